"""IP_TO_HOSTNAME with `at` over four real providers: DHCP leases, DNS (dnslib server), Splunk (emulator) and a
static inventory. The lease that was active at `at` must rank first; today's holder is the alternative."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from positron.queries import IP_TO_HOSTNAME

from positron.broker import Broker
from positron.config import parse_settings
from positron.demo import DATA
from positron.registry import Registry
from tests.emulators.splunk import SplunkEmulator
from tests.support.dns_server import RunningServer, Zone, dns_server

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # laptop-7 held 10.20.0.42 then (positron/demo/data/dhcpd.leases)
PASSWORD = "splunk-e2e-Secret-42"


@pytest.fixture
def splunk() -> Iterator[SplunkEmulator]:
    emulator = SplunkEmulator(password=PASSWORD)
    dhcp = {"index": "dhcp", "sourcetype": "dhcp"}
    emulator.add_event(AT - timedelta(hours=1), ip="10.20.0.42", hostname="LAPTOP-7.corp.example", **dhcp)
    emulator.add_event(datetime.now(UTC) - timedelta(minutes=5), ip="10.20.0.42", hostname="ws-042", **dhcp)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def dns() -> Iterator[RunningServer]:
    zone = Zone()
    zone.add("42.0.20.10.in-addr.arpa. 300 IN PTR ws-042.corp.example.")
    with dns_server(zone) as server:
        yield server


def config(splunk: SplunkEmulator, dns: RunningServer) -> dict[str, object]:
    return {
        "providers": {
            "dhcp": {"type": "dhcp_leases", "files": [{"path": str(DATA / "dhcpd.leases"), "format": "isc"}]},
            "inventory": {"type": "static_inventory", "weight": 0.8, "hosts": str(DATA / "hosts.csv")},
            "dns": {"type": "dns", "weight": 0.6, "nameservers": [dns.host], "port": dns.port},
            "splunk": {
                "type": "splunk",
                "host": "127.0.0.1",
                "port": splunk.port,
                "scheme": "http",
                "username": "admin",
                "password": PASSWORD,
                "searches": {
                    "IP_TO_HOSTNAME": {
                        "spl": "search index=dhcp ip={value} | sort - _time | fields _time, hostname",
                        "field": "hostname",
                        "window_before_s": 86400,
                        "window_after_s": 0,
                    }
                },
            },
        }
    }


async def test_lease_active_at_alert_time_ranks_first(splunk: SplunkEmulator, dns: RunningServer) -> None:
    registry = Registry.from_entry_points()
    broker = Broker(parse_settings(config(splunk, dns), registry), registry)
    await broker.start()
    try:
        then = await broker.engine.run(IP_TO_HOSTNAME, "10.20.0.42", AT)
        now = await broker.engine.run(IP_TO_HOSTNAME, "10.20.0.42")
    finally:
        await broker.close()
    assert {p.name: p.status for p in then.providers} == {"dhcp": "ok", "inventory": "ok", "dns": "ok", "splunk": "ok"}
    ranked = [(r.value, sorted(s.provider for s in r.sources)) for r in then.merged.answers]
    assert ranked == [
        ("laptop-7.corp.example", ["dhcp", "splunk"]),  # DHCP's short name joined Splunk's FQDN
        ("ws-042.corp.example", ["dns", "inventory"]),  # today's holder, as the alternative
    ]
    assert not then.merged.conflict
    assert now.merged.answer is not None and now.merged.answer.value == "ws-042.corp.example"
    assert len(now.merged.answer.sources) == 4  # DHCP, DNS, inventory and Splunk's recent event agree today
