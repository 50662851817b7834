"""Inline fake providers for engine and API tests: answer after a delay, fail, or hang."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from positron.queries import HASH_REPUTATION, IP_TO_HOSTNAME, USER_MANAGER
from positron.queries.models import Person, Reputation, Verdict
from pydantic import Field

from positron.provider import Health, Provider, ProviderConfig, answers
from positron.query import Answer, Lookup
from positron.security.secrets import Secret


class FakeConfig(ProviderConfig):
    answer: str | None = Field(default=None, description="The hostname to answer; None = no data")
    delay_s: float = 0.0
    hang: bool = False
    fail: str | None = Field(default=None, description="An error class name from positron.errors to raise")
    fail_times: int = Field(default=-1, description="Raise only for the first N calls (-1: always)")
    confidence: float = 1.0
    api_key: Secret | None = None


class Fake(Provider[FakeConfig]):
    type_name = "fake"
    Config: ClassVar[type[ProviderConfig]] = FakeConfig

    def __init__(self, name: str, config: FakeConfig) -> None:
        super().__init__(name, config)
        self.calls = 0
        self.cancelled = 0
        self.opened = False

    async def open(self) -> None:
        self.opened = True

    async def health(self) -> Health:
        return Health(self.config.fail is None, "fake")

    async def _respond(self, value: Any) -> list[Answer[Any]]:
        self.calls += 1
        try:
            async with asyncio.timeout(self.config.timeout_s):  # a provider bounds each of its calls
                if self.config.hang:
                    await asyncio.Event().wait()
                await asyncio.sleep(self.config.delay_s)
        except TimeoutError:
            import positron.errors as errors

            raise errors.ProviderTimeout(f"{self.name} did not answer within {self.config.timeout_s:g} s") from None
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.config.fail and (self.config.fail_times < 0 or self.calls <= self.config.fail_times):
            import positron.errors as errors

            error_cls: type[Exception] = getattr(errors, self.config.fail, RuntimeError)
            if issubclass(error_cls, errors.ProviderRateLimited):
                raise error_cls("slow down", retry_after=30)
            raise error_cls(f"{self.config.fail} from {self.name}")
        if self.config.answer is None:
            return []
        return [Answer(value, self.config.confidence, source_ref=f"fake://{self.name}")]

    @answers(IP_TO_HOSTNAME)
    async def ip_to_hostname(self, lookup: Lookup) -> list[Answer[str]]:
        return await self._respond(self.config.answer)

    @answers(USER_MANAGER)
    async def user_manager(self, lookup: Lookup) -> list[Answer[Person]]:
        return await self._respond(Person(username=self.config.answer or "nobody"))

    @answers(HASH_REPUTATION)
    async def hash_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        return await self._respond(Reputation(verdict=Verdict(self.config.answer or "unknown"), total=1))


def fake(name: str, **settings: Any) -> Fake:
    return Fake(name, FakeConfig.model_validate({"type": "fake", **settings}))
