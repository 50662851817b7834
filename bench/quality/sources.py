"""The simulated world written out as the sources a SOC has: lease files, a Splunk index, an inventory CSV."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.quality.world import DAY, World
from tests.emulators.splunk import SplunkEmulator
from tests.support.leases import isc_lease, kea_row, write_isc, write_kea

DOMAIN = "corp.example"
SPL = "search ip={value} | sort - _time | fields _time, hostname"


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def write_leases(world: World, root: Path) -> dict[str, Path]:
    """dhcp_full as an ISC dhcpd.leases journal of the whole period; dhcp_short as a Kea CSV of its last days."""
    full = [
        isc_lease(r.ip, _utc(r.start), _utc(r.end), state="free" if r.released else "active", mac=r.mac,
                  host=r.host, cltt=_utc(r.end if r.released else r.start))
        for r in world.leases["dhcp_full"]
    ]  # fmt: skip
    cutoff = world.now - world.params.short_retention_days * DAY
    short = [
        kea_row(r.ip, _utc(r.end), 0, mac=r.mac, host=r.host)
        if r.released
        else kea_row(r.ip, _utc(r.start), int(r.end - r.start), mac=r.mac, host=r.host)
        for r in world.leases["dhcp_short"]
        if (r.end if r.released else r.start) >= cutoff
    ]
    return {
        "dhcp_full": write_isc(root / "dhcpd.leases", full),
        "dhcp_short": write_kea(root / "kea-leases4.csv", short),
    }


def write_inventory(world: World, root: Path) -> Path:
    path = root / "hosts.csv"
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["hostname", "ip", "updated"])
        for row in world.inventory:
            out.writerow([f"{row.host}.{DOMAIN}", row.ip, _utc(row.updated).isoformat()])
    return path


def seed_splunk(world: World, emu: SplunkEmulator) -> None:
    """Every event indexed by now; DHCP logs carry the client's short name, auth logs the FQDN."""
    for e in world.events:
        if e.indexed <= world.now:
            host = e.host if e.kind == "dhcp" else f"{e.host}.{DOMAIN}"
            emu.add_event(_utc(e.time), index=e.kind, sourcetype=e.kind, ip=e.ip, hostname=host)


def providers(world: World, root: Path, splunk_port: int) -> dict[str, dict[str, Any]]:
    leases = write_leases(world, root)
    return {
        "dhcp": {
            "type": "dhcp_leases",
            "files": [{"path": str(leases["dhcp_full"])}, {"path": str(leases["dhcp_short"])}],
            "domain": DOMAIN,
        },
        "splunk": {
            "type": "splunk",
            "host": "127.0.0.1",
            "port": splunk_port,
            "scheme": "http",
            "username": "admin",
            "password": {"env": "BENCH_SPLUNK_PASSWORD"},
            "searches": {
                "IP_TO_HOSTNAME": {
                    "spl": SPL,
                    "field": "hostname",
                    "window_before_s": 7 * DAY,
                    "default_earliest": "-7d",
                    "max_results": 2000,
                }
            },
        },
        "inventory": {"type": "static_inventory", "hosts": str(write_inventory(world, root))},
    }
