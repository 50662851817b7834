"""The wrong answers issue 12 saw, black-box over HTTP (the app with real providers: the splunkd emulator, lease
files, an inventory CSV, the PagerDuty emulator), kept as regression tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.pagerduty import PagerDutyEmulator
from tests.emulators.splunk import SplunkEmulator
from tests.support.apps import AUTH, client
from tests.support.leases import isc_lease, write_isc

NOW = datetime.now(UTC).replace(microsecond=0)
SPL = "index=dhcp ip={value} | sort - _time | fields _time, hostname"
PD_KEY = "u+pdREGRESSIONkey-0001"


@pytest.fixture
def splunk() -> Iterator[SplunkEmulator]:
    emu = SplunkEmulator()
    emu.start()
    yield emu
    emu.stop()


def splunk_config(emu: SplunkEmulator, **template: Any) -> dict[str, Any]:
    search = {"spl": SPL, "field": "hostname", "default_earliest": "-30d", **template}
    return {"type": "splunk", "host": "127.0.0.1", "port": emu.port, "scheme": "http", "username": emu.username,
            "password": emu.password, "searches": {"IP_TO_HOSTNAME": search}}  # fmt: skip


async def ask(providers: dict[str, dict[str, Any]], value: str, at: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"value": value} | ({"at": at.isoformat()} if at else {})
    async with client(providers) as c:
        r = await c.post("/v1/queries/IP_TO_HOSTNAME", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_old_log_rows_still_order_by_time_not_by_name(splunk: SplunkEmulator) -> None:
    """Seen: rows 11 and 12 days old both scored 0.425, a `conflict`, and `aa-older-host-6` won on name order."""
    splunk.add_event(NOW - timedelta(days=11), index="dhcp", ip="10.40.1.6", hostname="zz-newer-host-6")
    splunk.add_event(NOW - timedelta(days=12), index="dhcp", ip="10.40.1.6", hostname="aa-older-host-6")
    result = await ask({"splunk": splunk_config(splunk)}, "10.40.1.6")
    assert result["answer"]["value"] == "zz-newer-host-6"
    assert result["conflict"] is False and result["conflict_providers"] == []  # one provider's own history
    newer, older = result["answers"]
    assert newer["sources"][0]["current"] is True and older["sources"][0]["current"] is False
    assert older["sources"][0]["valid_to"] == newer["sources"][0]["valid_from"]  # valid until the next row
    assert newer["confidence"] > older["confidence"]


async def test_a_current_dhcp_lease_beats_a_fresher_log_line(splunk: SplunkEmulator, tmp_path: Path) -> None:
    """Seen: a lease held now, last renewed two days ago, lost to a Splunk line from five minutes ago."""
    renewed, ends = NOW - timedelta(days=2), NOW + timedelta(days=5)
    lease = isc_lease("10.40.2.7", renewed, ends, host="ws-lease", cltt=renewed)
    leases = write_isc(tmp_path / "dhcpd.leases", [lease])
    splunk.add_event(NOW - timedelta(minutes=5), index="dhcp", ip="10.40.2.7", hostname="ws-log")
    providers = {"dhcp": {"type": "dhcp_leases", "files": [{"path": str(leases)}]}, "splunk": splunk_config(splunk)}
    result = await ask(providers, "10.40.2.7")
    assert result["answer"]["value"] == "ws-lease"
    why = result["answer"]["why"]
    assert why["evidence"] == "contains" and why["provider"] == "dhcp"
    assert (why["valid_from"], why["valid_to"]) == (renewed.isoformat(), ends.isoformat())
    assert result["answers"][1]["value"] == "ws-log"
    assert result["answers"][1]["sources"][0]["evidence"] == "before"


async def test_static_ip_a_recent_sighting_beats_a_seven_week_old_inventory_row(
    splunk: SplunkEmulator, tmp_path: Path
) -> None:
    """Seen: a 7-week-old inventory row outranked a 1-day-old sighting of another host, and answered every `at`
    the same whatever its `updated` said."""
    hosts = tmp_path / "hosts.csv"
    updated = NOW - timedelta(weeks=7)
    hosts.write_text(f"hostname,ip,updated\nold-server.corp.example,10.40.3.9,{updated.isoformat()}\n")
    splunk.add_event(NOW - timedelta(days=1), index="dhcp", ip="10.40.3.9", hostname="new-server")
    providers = {"inventory": {"type": "static_inventory", "hosts": str(hosts)}, "splunk": splunk_config(splunk)}
    now = await ask(providers, "10.40.3.9")
    assert now["answer"]["value"] == "new-server"
    assert now["conflict"] is True and now["conflict_providers"] == ["inventory", "splunk"]
    inventory = {s["evidence"] for a in now["answers"] for s in a["sources"] if s["provider"] == "inventory"}
    assert inventory == {"before"}
    then = await ask(providers, "10.40.3.9", updated - timedelta(days=3))  # before the row was verified
    row = next(s for a in then["answers"] for s in a["sources"] if s["provider"] == "inventory")
    assert row["evidence"] == "after" and row["valid_from"] == updated.isoformat()


@pytest.fixture
async def pagerduty() -> AsyncIterator[PagerDutyEmulator]:
    emu = PagerDutyEmulator(api_key=PD_KEY)
    await emu.start()
    yield emu
    await emu.stop()


async def test_escalation_levels_of_one_provider_are_not_a_conflict(pagerduty: PagerDutyEmulator) -> None:
    """Seen: PagerDuty's levels 1 and 2 (0.99 and 0.9) reported as a `conflict`."""
    shift = {"start": NOW - timedelta(hours=2), "end": NOW + timedelta(hours=6), "escalation_policy_id": "PEPSEC"}
    pagerduty.add_oncall(user="Jane Doe", email="jane@acme.example", escalation_level=1, **shift)
    pagerduty.add_oncall(user="Ravi Rao", email="ravi@acme.example", escalation_level=2, **shift)
    providers = {"pd": {"type": "pagerduty", "api_key": PD_KEY, "base_url": pagerduty.base_url,
                        "teams": {"security": {"escalation_policy_ids": ["PEPSEC"]}}}}  # fmt: skip
    async with client(providers) as c:
        r = await c.post("/v1/queries/TEAM_ONCALL", json={"value": "security"}, headers=AUTH)
    result = r.json()
    assert r.status_code == 200, r.text
    assert [a["value"]["user"] for a in result["answers"]] == ["Jane Doe", "Ravi Rao"]
    assert result["conflict"] is False
    source = result["answer"]["sources"][0]
    assert (source["valid_from"], source["valid_to"]) == (shift["start"].isoformat(), shift["end"].isoformat())
    assert source["evidence"] == "contains"
