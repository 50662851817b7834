"""A provider that answers after a fixed delay, like a remote source with a known latency."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from positron.queries import IP_TO_HOSTNAME

from positron.provider import Provider, ProviderConfig, answers
from positron.query import Answer, Lookup


class SleepyConfig(ProviderConfig):
    delay_s: float = 0.02
    hostname: str = "ws-042.corp.example"


class Sleepy(Provider[SleepyConfig]):
    type_name = "sleepy"
    Config: ClassVar[type[ProviderConfig]] = SleepyConfig

    @answers(IP_TO_HOSTNAME)
    async def ip_to_hostname(self, lookup: Lookup) -> list[Answer[str]]:
        await asyncio.sleep(self.config.delay_s)
        return [Answer(self.config.hostname, 0.9)]
