"""End to end: Entra ID (Graph emulator) and Active Directory (a real slapd) answer the same identity questions
through the broker. Where they agree the answer has both as sources; where they disagree about jdoe's manager
(changed in the cloud, not yet on premises) the answer follows the documented merge rules: the higher
weight × confidence × recency ranks first, the other is an alternative, and `conflict` says when the two are
within engine.conflict_margin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from positron.queries import USER_GROUPS, USER_INFO, USER_MANAGER

from positron.broker import Broker
from positron.config import parse_settings
from positron.engine import QueryResult
from positron.registry import Registry
from tests.emulators.graph import GraphEmulator
from tests.support import slapd as slapd_support
from tests.support.slapd import Slapd, running_slapd

assert slapd_support.available(), "slapd, slapadd and openssl are needed: ./dev test installs them"
SECRET = "entra-e2e-secret"


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with running_slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


@pytest.fixture
async def graph() -> AsyncIterator[GraphEmulator]:
    emulator = GraphEmulator("corp.example", "positron", SECRET)
    cboss = emulator.add_user("carol.boss@corp.example", sam="cboss", displayName="Carol Boss", jobTitle="CEO")
    jdoe = emulator.add_user("jdoe@corp.example", sam="JDoe", manager=cboss, displayName="John Doe", jobTitle="Lead")
    emulator.add_group("Cloud Admins", members=(jdoe,))
    async with emulator:
        yield emulator


def settings(slapd: Slapd, graph: GraphEmulator, entra: dict[str, Any], ad_weights: dict[str, float]) -> dict[str, Any]:
    ad = {
        "type": "ldap",
        "servers": [slapd.url],
        "bind_user": slapd.bind_dn,
        "bind_password": slapd.bind_password,
        "base_dn": slapd.base_dn,
        "user_attribute": "uid",
        "tls": "none",
        "weights": ad_weights,
    }
    cloud = {
        "type": "entra_id",
        "tenant_id": "corp.example",
        "client_id": "positron",
        "client_secret": SECRET,
        "authority_url": graph.base_url,
        "graph_url": graph.base_url,
        "strip_domains": ["corp.example"],
        **entra,
    }
    return {"engine": {"conflict_margin": 0.1}, "providers": {"ad": ad, "entra": cloud}}


async def run(
    slapd: Slapd, graph: GraphEmulator, query: Any, value: str, ad_weights: dict[str, float] | None = None, **entra: Any
) -> QueryResult:
    registry = Registry.from_entry_points()
    broker = Broker(parse_settings(settings(slapd, graph, entra, ad_weights or {}), registry), registry)
    await broker.start()
    try:
        return await broker.engine.run(query, value)
    finally:
        await broker.close()


def ranked(result: QueryResult) -> list[tuple[str, list[str]]]:
    return [(r.value.username, sorted(s.provider for s in r.sources)) for r in result.merged.answers]


async def test_the_more_trusted_directory_wins_a_manager_disagreement(slapd: Slapd, graph: GraphEmulator) -> None:
    result = await run(slapd, graph, USER_MANAGER, "CORP\\jdoe", weight=0.6)
    assert {p.name: p.status for p in result.providers} == {"ad": "ok", "entra": "ok"}
    assert ranked(result) == [("asmith", ["ad"]), ("cboss", ["entra"])]  # AD (weight 1) first, Entra the alternative
    assert not result.merged.conflict  # 0.99 against 0.6: further apart than the 0.1 margin
    top, other = result.merged.answers
    assert top.confidence - other.confidence >= 0.1


async def test_equally_trusted_directories_that_disagree_are_a_conflict(slapd: Slapd, graph: GraphEmulator) -> None:
    result = await run(slapd, graph, USER_MANAGER, "jdoe", weight=0.2, weights={"USER_MANAGER": 1.0})
    assert {value for value, _ in ranked(result)} == {"asmith", "cboss"}
    assert result.merged.conflict  # a per-query weight made Entra as trusted as AD for managers


async def test_per_query_weights_let_the_cloud_win_managers_only(slapd: Slapd, graph: GraphEmulator) -> None:
    cloud_managers = {"ad_weights": {"USER_MANAGER": 0.5}, "weight": 0.5, "weights": {"USER_MANAGER": 1.0}}
    result = await run(slapd, graph, USER_MANAGER, "jdoe", **cloud_managers)
    assert ranked(result) == [("cboss", ["entra"]), ("asmith", ["ad"])] and not result.merged.conflict
    info = await run(slapd, graph, USER_INFO, "jdoe", **cloud_managers)
    assert info.merged.answer is not None
    assert info.merged.answer.value.title == "Security Engineer"  # AD's record still leads USER_INFO


async def test_where_they_agree_both_vouch_and_groups_are_the_union(slapd: Slapd, graph: GraphEmulator) -> None:
    info = await run(slapd, graph, USER_INFO, "jdoe@corp.example", weight=0.8)
    assert ranked(info) == [("jdoe", ["ad", "entra"])]  # one user: sAMAccountName from both sides
    value = info.merged.answer.value if info.merged.answer else None
    assert value is not None and value.title == "Security Engineer" and value.manager == "asmith"  # AD ranks first
    groups = await run(slapd, graph, USER_GROUPS, "jdoe", weight=0.8)
    assert groups.merged.answer is not None
    assert {"Cloud Admins", "engineering", "vpn-users"} <= set(groups.merged.answer.value)
