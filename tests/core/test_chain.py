"""The engine's chains (positron/chain.py): IP_TO_USER answered through IP_TO_HOSTNAME → HOST_USER beside the
providers that answer it directly, under the request's deadline, with the request's skips."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from positron.queries import HOST_USER, IP_TO_HOSTNAME, IP_TO_USER
from pydantic import Field

from positron.config import EngineConfig
from positron.engine import Engine
from positron.provider import Provider, ProviderConfig, answers
from positron.query import Answer, Lookup

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class TableConfig(ProviderConfig):
    table: dict[str, dict[str, str]] = Field(default_factory=dict, description="QUERY → value → answer")
    delay_s: float = 0.0


class Table(Provider[TableConfig]):
    """Answers from a table; records what it was asked."""

    type_name: ClassVar[str] = "table"
    Config: ClassVar[type[ProviderConfig]] = TableConfig

    def __init__(self, name: str, config: TableConfig) -> None:
        super().__init__(name, config)
        self.asked: list[tuple[str, str, datetime | None]] = []

    def serves(self) -> list[str]:
        return [q for q in super().serves() if q in self.config.table]

    async def _answer(self, lookup: Lookup) -> list[Answer[str]]:
        self.asked.append((lookup.query.name, lookup.value, lookup.at))
        await asyncio.sleep(self.config.delay_s)
        value = self.config.table[lookup.query.name].get(lookup.value)
        return [] if value is None else [Answer(value, 0.9, lookup.at, f"{self.name}://{lookup.value}")]

    @answers(IP_TO_HOSTNAME)
    async def ip_to_hostname(self, lookup: Lookup) -> list[Answer[str]]:
        return await self._answer(lookup)

    @answers(HOST_USER)
    async def host_user(self, lookup: Lookup) -> list[Answer[str]]:
        return await self._answer(lookup)

    @answers(IP_TO_USER)
    async def ip_to_user(self, lookup: Lookup) -> list[Answer[str]]:
        return await self._answer(lookup)


def table(name: str, weight: float = 1.0, delay_s: float = 0.0, **queries: dict[str, str]) -> Table:
    raw: dict[str, Any] = {"type": "table", "weight": weight, "table": queries, "delay_s": delay_s}
    return Table(name, TableConfig.model_validate(raw))


def engine(*providers: Table, deadline_s: float = 5.0) -> Engine:
    return Engine(providers, EngineConfig(deadline_s=deadline_s, retries=0))


async def test_ip_to_user_chains_the_host_at_that_time_into_the_user_at_that_time() -> None:
    dhcp = table("dhcp", IP_TO_HOSTNAME={"10.20.0.42": "laptop-7.corp.example"})
    edr = table("edr", weight=0.8, HOST_USER={"laptop-7.corp.example": "jdoe"})
    e = engine(dhcp, edr)
    result = await e.run(IP_TO_USER, "10.20.0.42", AT)
    assert result.merged.answer is not None and result.merged.answer.value == "jdoe"
    (source,) = result.merged.answer.sources
    assert (source.provider, source.type) == ("dhcp→edr", "chain")
    host = await e.run(IP_TO_HOSTNAME, "10.20.0.42", AT)
    assert host.merged.answer is not None
    assert source.confidence == pytest.approx(host.merged.answer.confidence * 0.9)  # step 1's merged × its own
    assert source.source_ref == "laptop-7.corp.example: edr://laptop-7.corp.example"
    assert dhcp.asked[0] == ("IP_TO_HOSTNAME", "10.20.0.42", AT)
    assert edr.asked == [("HOST_USER", "laptop-7.corp.example", AT)]  # the same `at` all the way
    via = result.merged.details["via"]
    assert via == {"steps": ["IP_TO_HOSTNAME", "HOST_USER"], "values": ["laptop-7.corp.example"], "status": "ok"}
    assert [p.name for p in result.providers] == []  # the chain's steps are not providers of IP_TO_USER


async def test_direct_answers_and_the_chain_merge_and_agreement_ranks_first() -> None:
    dhcp = table("dhcp", IP_TO_HOSTNAME={"10.20.0.42": "laptop-7.corp.example"})
    edr = table("edr", HOST_USER={"laptop-7.corp.example": "jdoe"})
    logons = table("logons", weight=0.5, IP_TO_USER={"10.20.0.42": "asmith"})
    vpn = table("vpn", weight=0.5, IP_TO_USER={"10.20.0.42": "jdoe"})
    result = await engine(dhcp, edr, logons, vpn).run(IP_TO_USER, "10.20.0.42", AT)
    ranked = [(r.value, sorted(s.provider for s in r.sources)) for r in result.merged.answers]
    assert ranked == [("jdoe", ["dhcp→edr", "vpn"]), ("asmith", ["logons"])]
    assert {p.name: p.status for p in result.providers} == {"logons": "ok", "vpn": "ok"}


async def test_no_host_ends_the_chain_and_naming_providers_turns_it_off() -> None:
    dhcp = table("dhcp", IP_TO_HOSTNAME={})
    edr = table("edr", HOST_USER={"laptop-7.corp.example": "jdoe"})
    direct = table("direct", IP_TO_USER={"10.9.9.9": "bob"})
    e = engine(dhcp, edr, direct)
    result = await e.run(IP_TO_USER, "10.20.0.42", AT)
    assert result.merged.answer is None and result.merged.details["via"]["status"] == "no_data"
    assert edr.asked == []
    named = await e.run(IP_TO_USER, "10.9.9.9", AT, providers=["direct"])
    assert named.merged.answer is not None and "via" not in named.merged.details
    assert len(dhcp.asked) == 1  # only the first request chained


async def test_the_chain_keeps_the_requests_skips_and_deadline() -> None:
    dhcp = table("dhcp", IP_TO_HOSTNAME={"10.20.0.42": "laptop-7"})
    slow = table("slow_edr", delay_s=30, HOST_USER={"laptop-7": "jdoe"})
    e = engine(dhcp, slow, deadline_s=0.3)
    result = await e.run(IP_TO_USER, "10.20.0.42", AT)
    assert result.merged.answer is None and result.merged.details["via"]["status"] == "timeout"
    skipped = await e.run(IP_TO_USER, "10.20.0.42", AT, skip={"dhcp": "denied"})
    assert skipped.merged.details["via"]["status"] == "no_data"
    assert len(dhcp.asked) == 1  # the skipped instance was not asked in its step either


async def test_a_query_without_via_never_chains() -> None:
    dhcp = table("dhcp", IP_TO_HOSTNAME={"10.20.0.42": "laptop-7"})
    result = await engine(dhcp).run(IP_TO_HOSTNAME, "10.20.0.42", AT)
    assert "via" not in result.merged.details and len(dhcp.asked) == 1
