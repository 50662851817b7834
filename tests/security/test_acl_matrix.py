"""The access policy at every entry point: principals × queries × (single query, variant names, describe, list,
batch, enrich), against the example policy (acl/policy.csv), with the expected outcome written out by hand below.
"""

from __future__ import annotations

from typing import Any

import pytest
from positron.queries import CATALOG

from positron.api.schemas import EXAMPLES
from positron.security.auth import Principal
from tests.security.support import GROUPS, api_keys, auth, broker, client, demo_providers, serving

ALL = set(CATALOG)
SOC = {"IP_TO_HOSTNAME", "IP_TO_MAC", "HOSTNAME_TO_IP", "HASH_REPUTATION", "IP_REPUTATION", "DOMAIN_REPUTATION"}
SOC |= {"URL_REPUTATION"}
SOC |= {"IP_TO_USER", "HOST_USER", "HOST_INFO"}  # IP_TO_* and HOST_* in acl/policy.csv
MAY_RUN: dict[str, set[str]] = {
    "alice": SOC | {"TEAM_ONCALL"},
    "ivan": SOC | {"TEAM_ONCALL"},
    "hana": {"USER_INFO", "USER_MANAGER", "USER_GROUPS"},
    "carl": ALL - {"USER_INFO"},
    "root": ALL,
    "nobody": set(),
}
CONFIGURED = {"inventory", "hr_export", "local_iocs", "dhcp", "virustotal"}
MAY_USE: dict[str, set[str]] = {
    "alice": {"inventory", "local_iocs", "dhcp"},
    "ivan": {"inventory", "local_iocs", "dhcp", "virustotal"},
    "hana": {"inventory", "hr_export"},
    "carl": CONFIGURED,
    "root": CONFIGURED,
    "nobody": set(),
}
CASES = [(p, q) for p in GROUPS for q in CATALOG]


def providers() -> dict[str, Any]:
    vt = {"type": "fake", "answer": "malicious", "egress": "external", "queries": ["HASH_REPUTATION"]}
    return {**demo_providers(), "virustotal": vt}


def variants(name: str) -> list[str]:
    encoded = f"%{ord(name[0]):02X}{name[1:]}"  # %49P_TO_HOSTNAME
    return [name, name.lower(), encoded, f"{name}/", name.title().replace("_", "-")]


def value_for(query: str) -> str:
    return EXAMPLES[CATALOG[query].input.value]


async def test_every_principal_runs_exactly_what_the_policy_says_under_every_name() -> None:
    outcomes: dict[tuple[str, str, str], int] = {}
    skipped: dict[tuple[str, str], set[str]] = {}
    async with client(providers()) as c:
        for principal, query in CASES:
            for path in variants(query):
                r = await c.post(f"/v1/queries/{path}", json={"value": value_for(query)}, headers=auth(principal))
                outcomes[(principal, query, path)] = r.status_code
                if r.status_code == 200:
                    assert r.json()["query"] == query
                    denied = {p["name"] for p in r.json()["providers"] if p["error"] == "denied"}
                    skipped.setdefault((principal, query), denied)
                    assert skipped[(principal, query)] == denied  # the same under every name
                else:
                    assert r.json()["error"]["code"] == "forbidden", r.text
                    assert r.json()["error"]["message"] == f"you may not run {query}"
    expected = {(p, q, path): 200 if q in MAY_RUN[p] else 403 for p, q in CASES for path in variants(q)}
    assert outcomes == expected
    engine = broker(providers()).engine
    for (principal, query), denied in skipped.items():
        answering = {i.name for i in engine.answering(CATALOG[query])}
        assert denied == answering - MAY_USE[principal], (principal, query)


@pytest.mark.parametrize("principal", list(GROUPS))
async def test_list_and_describe_show_only_what_the_caller_may_run(principal: str) -> None:
    async with client(providers()) as c:
        listed = await c.get("/v1/queries", headers=auth(principal))
        described = {q: (await c.get(f"/v1/queries/{q.lower()}", headers=auth(principal))) for q in CATALOG}
        instances = await c.get("/v1/providers", headers=auth(principal))
    assert listed.status_code == 200
    assert {q["name"] for q in listed.json()} == MAY_RUN[principal]
    for q in listed.json():  # each query lists only the instances this caller's requests may reach
        assert set(q["providers"]) <= MAY_USE[principal]
    assert {q: r.status_code for q, r in described.items()} == {
        q: 200 if q in MAY_RUN[principal] else 403 for q in CATALOG
    }
    assert {p["name"] for p in instances.json()} == MAY_USE[principal]


async def test_a_deny_line_wins_over_any_allow_and_is_named_in_the_decision() -> None:
    b = broker(providers())
    async with serving(b) as c:
        carl = await c.post("/v1/queries/USER_INFO", json={"value": "jdoe"}, headers=auth("carl"))
    decision = b.guard.authorize_query(Principal("carl", ("automation", "admins")), "user_info")
    assert carl.status_code == 403
    assert not decision.allowed and decision.rule == "p, automation, USER_INFO, run, deny"


async def test_admin_routes_need_the_admin_permission() -> None:
    async with client(providers()) as c:
        by_principal = {
            p: (
                (await c.post("/v1/admin/reload", headers=auth(p))).status_code,
                (await c.get("/v1/admin/providers", headers=auth(p))).status_code,
            )
            for p in GROUPS
        }
        details = await c.get("/v1/admin/providers", headers=auth("root"))
    assert by_principal == {p: (200, 200) if p == "root" else (403, 403) for p in GROUPS}
    vt = next(d for d in details.json() if d["name"] == "virustotal")
    assert vt["egress"] == "external" and vt["max_tlp"] == "amber" and vt["allow_internal"] is False


async def test_no_cache_needs_its_own_permission() -> None:
    body = {"value": "10.20.0.42", "no_cache": True}
    async with client(providers()) as c:
        alice = await c.post("/v1/queries/IP_TO_HOSTNAME", json=body, headers=auth("alice"))
        ivan = await c.post("/v1/queries/IP_TO_HOSTNAME", json=body, headers=auth("ivan"))
    assert alice.status_code == 403 and "no_cache" in alice.json()["error"]["message"]
    assert ivan.status_code == 200


async def test_an_answer_cached_for_one_principal_never_reaches_one_without_permission() -> None:
    unknown_hash = "0" * 32  # not in the local indicator list: only the virustotal instance has an answer
    b = broker(providers())
    vt = b.engine.instances["virustotal"].provider
    async with serving(b) as c:
        filled = await c.post("/v1/queries/HASH_REPUTATION", json={"value": unknown_hash}, headers=auth("ivan"))
        again = await c.post("/v1/queries/HASH_REPUTATION", json={"value": unknown_hash}, headers=auth("ivan"))
        alice = await c.post("/v1/queries/HASH_REPUTATION", json={"value": unknown_hash}, headers=auth("alice"))
        root_info = await c.post("/v1/queries/USER_INFO", json={"value": "jdoe"}, headers=auth("root"))
        alice_info = await c.post("/v1/queries/USER_INFO", json={"value": "jdoe"}, headers=auth("alice"))
    assert filled.json()["answer"]["value"]["verdict"] == "malicious"
    assert next(p for p in again.json()["providers"] if p["name"] == "virustotal")["cached"] is True
    assert vt.calls == 1  # type: ignore[attr-defined]
    body = alice.json()
    assert body["answer"] is None and body["answers"] == []  # the cached verdict is not hers to see
    assert next(p for p in body["providers"] if p["name"] == "virustotal") == {
        **next(p for p in body["providers"] if p["name"] == "virustotal"),
        "status": "skipped",
        "cached": False,
        "error": "denied",
    }
    assert root_info.json()["answer"]["value"]["phone"] == "+49 30 5550 142"
    assert alice_info.status_code == 403 and "answer" not in alice_info.json()


async def test_masked_fields_are_blank_for_everyone_the_policy_does_not_grant(tmp_path: Any) -> None:
    policy = tmp_path / "policy.csv"
    policy.write_text(
        "p, helpdesk, USER_INFO, run, allow\n"
        "p, helpdesk, *, use, allow\n"
        "p, hr-partners, USER_*, run, allow\n"
        "p, hr-partners, *, use, allow\n"
        "p, hr-partners, USER_INFO.phone, read, allow\n"
    )
    keys = {"hana": ("hr-partners",), "helga": ("helpdesk",)}
    async with client(demo_providers(), api_keys=api_keys(keys), security={"policy": str(policy)}) as c:
        hr = await c.post("/v1/queries/USER_INFO", json={"value": "jdoe"}, headers=auth("hana"))
        desk = await c.post("/v1/queries/USER_INFO", json={"value": "jdoe"}, headers=auth("helga"))
    assert hr.json()["answer"]["value"]["phone"] == "+49 30 5550 142"
    assert "masked" not in hr.json()["details"]
    body = desk.json()
    assert body["answer"]["value"]["phone"] is None and body["answer"]["value"]["display_name"] == "Jane Doe"
    assert all(s["value"]["phone"] is None for a in body["answers"] for s in a["sources"])
    assert body["details"]["masked"] == ["phone"]
    assert "5550" not in desk.text


async def test_batch_items_get_exactly_the_single_query_decision() -> None:
    items = [{"query": path, "value": value_for(q)} for q in CATALOG for path in variants(q)]
    async with client(providers()) as c:
        for principal in GROUPS:
            r = await c.post("/v1/batch", json={"items": items}, headers=auth(principal))
            assert r.status_code == 200
            got = {(items[x["index"]]["query"], x["status"]) for x in r.json()["results"]}
            expected = {(path, 200 if q in MAY_RUN[principal] else 403) for q in CATALOG for path in variants(q)}
            assert got == expected, principal
            for x in r.json()["results"]:
                if x["status"] == 200:  # instances this caller may not use are skipped as denied, as for one query
                    used = {p["name"] for p in x["result"]["providers"] if p["error"] != "denied"}
                    assert used <= MAY_USE[principal]
                else:
                    assert x["error"]["code"] == "forbidden"


async def test_enrich_runs_only_the_queries_the_caller_may_run() -> None:
    alert = {"result": {"user": "jdoe", "src_ip": "10.20.0.42", "md5": value_for("HASH_REPUTATION")}}
    async with client(providers()) as c:
        for principal in GROUPS:
            r = await c.post("/v1/enrich", json=alert, headers=auth(principal))
            assert r.status_code == 200
            ran = {name for o in r.json()["observables"] for name in o["results"]}
            applicable = {
                "USER_INFO",
                "USER_MANAGER",
                "IP_TO_HOSTNAME",
                "IP_TO_USER",
                "IP_TO_MAC",
                "IP_REPUTATION",
                "HASH_REPUTATION",
            }
            assert ran == applicable & MAY_RUN[principal], principal
