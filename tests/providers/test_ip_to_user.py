"""End to end: IP_TO_USER at an alert's time combines DHCP (the address → the host that held it then) with the EDR
and Windows logon events (that host → the user logged on then), through the engine's chain
IP_TO_HOSTNAME → HOST_USER (positron/chain.py), beside the EDR's own present-day IP_TO_USER.

The story (positron/demo/data/dhcpd.leases): at 12:00 on 20 Nov laptop-7 held 10.20.0.42; the next day ws-042
took the address and laptop-7 moved to 10.20.0.77. Falcon knows only the present: 10.20.0.42 is ws-042 whose last
user is bwhite. The right answer for the alert is jdoe, and bwhite is the alternative."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from positron.queries import IP_TO_USER

from positron.broker import Broker
from positron.config import WorkflowConfig, parse_settings
from positron.demo import DATA
from positron.registry import Registry
from positron.workflows.enrich import enrich, parse_request
from tests.emulators.crowdstrike import FalconEmulator, stamp
from tests.emulators.splunk import SplunkEmulator

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PASSWORD = "splunk-e2e-Secret-43"
SECRET = "falcon-e2e-secret"


@pytest.fixture
async def falcon() -> AsyncIterator[FalconEmulator]:
    now = datetime.now(UTC)
    emulator = FalconEmulator("positron", SECRET)
    emulator.add_device(
        "LAPTOP-7",
        local_ip="10.20.0.77",
        last_login_user="CORP\\jdoe",
        last_login_timestamp=stamp(AT - timedelta(hours=3)),
        last_seen=stamp(now),
    )
    emulator.add_device(
        "WS-042",
        local_ip="10.20.0.42",
        last_login_user="CORP\\bwhite",
        last_login_timestamp=stamp(now - timedelta(hours=1)),
        last_seen=stamp(now),
    )
    async with emulator:
        yield emulator


@pytest.fixture
def splunk() -> Iterator[SplunkEmulator]:
    emulator = SplunkEmulator(password=PASSWORD)
    logon = {"index": "wineventlog", "sourcetype": "WinEventLog:Security", "EventCode": "4624"}
    emulator.add_event(AT - timedelta(hours=1), ComputerName="laptop-7", user="CORP\\jdoe", **logon)
    emulator.add_event(AT - timedelta(days=9), ComputerName="laptop-7", user="CORP\\old-owner", **logon)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def config(falcon: FalconEmulator, splunk: SplunkEmulator) -> dict[str, Any]:
    spl = "index=wineventlog EventCode=4624 ComputerName={value} | table _time user"
    return {
        "providers": {
            "dhcp": {"type": "dhcp_leases", "files": [{"path": str(DATA / "dhcpd.leases"), "format": "isc"}]},
            "falcon": {
                "type": "crowdstrike",
                "client_id": "positron",
                "client_secret": SECRET,
                "base_url": falcon.base_url,
            },
            "splunk": {
                "type": "splunk",
                "host": "127.0.0.1",
                "port": splunk.port,
                "scheme": "http",
                "username": "admin",
                "password": PASSWORD,
                "searches": {"HOST_USER": {"spl": spl, "field": "user", "window_before_s": 12 * 3600}},
            },
        }
    }


async def test_ip_to_user_at_alert_time_follows_the_lease_to_the_logon(
    falcon: FalconEmulator, splunk: SplunkEmulator
) -> None:
    registry = Registry.from_entry_points()
    broker = Broker(parse_settings(config(falcon, splunk), registry), registry)
    await broker.start()
    try:
        then = await broker.engine.run(IP_TO_USER, "10.20.0.42", AT)
        now = await broker.engine.run(IP_TO_USER, "10.20.0.42")
    finally:
        await broker.close()
    ranked = [(r.value, sorted(s.provider for s in r.sources)) for r in then.merged.answers]
    assert ranked[0] == ("jdoe", ["dhcp→falcon", "dhcp→splunk"])  # the lease, then the EDR and the 4624 event
    assert ("bwhite", ["falcon"]) in ranked[1:]  # Falcon's present-day view, as the alternative
    assert all(value != "old-owner" for value, _ in ranked)  # outside the search window around `at`
    assert then.merged.details["via"] == {
        "steps": ["IP_TO_HOSTNAME", "HOST_USER"],
        "values": ["laptop-7"],
        "status": "ok",
    }
    assert {p.name: p.status for p in then.providers} == {"falcon": "ok"}  # the direct IP_TO_USER answerers
    chained = {s.provider: s for s in then.merged.answers[0].sources}
    assert chained["dhcp→splunk"].observed_at == AT - timedelta(hours=1)
    assert chained["dhcp→falcon"].source_ref is not None and chained["dhcp→falcon"].source_ref.startswith("laptop-7")
    # Today the lease and Falcon agree: ws-042 and its user
    assert now.merged.answer is not None and now.merged.answer.value == "bwhite"
    assert now.merged.details["via"]["values"] == ["ws-042"]


async def test_an_alert_with_an_ip_gets_the_host_and_the_user_at_the_alerts_time(
    falcon: FalconEmulator, splunk: SplunkEmulator
) -> None:
    registry = Registry.from_entry_points()
    broker = Broker(parse_settings(config(falcon, splunk), registry), registry)
    alert = {"search_name": "Beaconing", "result": {"src_ip": "10.20.0.42", "_time": AT.isoformat()}}
    job = parse_request(alert, WorkflowConfig(), broker.engine.catalog)
    await broker.start()
    try:
        caller = broker.guard.caller(broker.local_principal())  # the CLI's principal: allowed everything
        report = await enrich(job, caller, WorkflowConfig())
    finally:
        await broker.close()
    (ip,) = report["observables"]
    assert ip["results"]["IP_TO_HOSTNAME"]["at"] == AT.isoformat()
    assert ip["results"]["IP_TO_HOSTNAME"]["answer"]["value"] == "laptop-7"
    assert ip["results"]["IP_TO_USER"]["answer"]["value"] == "jdoe"
    assert "host at alert time: laptop-7, user jdoe" in report["markdown"]
