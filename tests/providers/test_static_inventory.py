"""The static inventory provider over real CSV and JSON files."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from positron.providers.static_inventory import StaticInventory, StaticInventoryConfig
from positron.queries import (
    DOMAIN_REPUTATION,
    HASH_REPUTATION,
    HOST_INFO,
    HOST_USER,
    HOSTNAME_TO_IP,
    IP_REPUTATION,
    IP_TO_HOSTNAME,
    IP_TO_MAC,
    USER_GROUPS,
    USER_INFO,
    USER_MANAGER,
    HostInfo,
    Person,
)

from positron.errors import ProviderUnavailable
from positron.query import Lookup, Query

HOSTS = """hostname,ip,mac,updated,owner,os,site
WS-042.corp.example,10.20.0.42,00-16-3E-12-34-56,2026-11-01T09:00:00+00:00,CORP\\JDoe,Windows 11,Berlin
ws-017,10.20.0.17,,,,,
broken-row,not-an-ip,zz,,,,
"""
USERS = [
    {
        "username": "jdoe",
        "display_name": "Jane Doe",
        "email": "Jane.Doe@corp.example",
        "manager": "asmith",
        "enabled": "false",
        "groups": "SOC; VPN Users",
    },
    {"username": "asmith", "display_name": "Alice Smith", "email": "alice@corp.example", "title": "SOC Manager"},
    {"username": "orphan", "manager": "ghost"},
]
INDICATORS = """value,verdict,label,link
44D88612FEA8A8F36DE82E1278ABB02F,malicious,eicar,https://example.org/eicar
198.51.100.23,suspicious,,
evil.example,malicious,phish,
odd.example,not-a-verdict,,
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "hosts.csv").write_text(HOSTS)
    (tmp_path / "users.json").write_text(json.dumps(USERS))
    (tmp_path / "iocs.csv").write_text(INDICATORS)
    return {"hosts": tmp_path / "hosts.csv", "users": tmp_path / "users.json", "indicators": tmp_path / "iocs.csv"}


@pytest.fixture
async def inventory(files: dict[str, Path]) -> AsyncIterator[StaticInventory]:
    provider = make(**{k: str(v) for k, v in files.items()}, reload_interval_s=0)
    await provider.open()
    yield provider
    await provider.aclose()


def make(**settings: Any) -> StaticInventory:
    return StaticInventory("inv", StaticInventoryConfig.model_validate({"type": "static_inventory", **settings}))


async def ask(p: StaticInventory, query: Query[Any], value: str) -> list[Any]:
    return [a.value for a in await p.ask(Lookup(query, value))]


async def test_hosts(inventory: StaticInventory) -> None:
    assert await ask(inventory, IP_TO_HOSTNAME, "10.20.0.42") == ["ws-042.corp.example"]
    assert await ask(inventory, IP_TO_MAC, "10.20.0.42") == ["00:16:3e:12:34:56"]
    assert await ask(inventory, IP_TO_MAC, "10.20.0.17") == []
    assert await ask(inventory, HOSTNAME_TO_IP, "ws-042") == ["10.20.0.42"]  # a short name finds the FQDN
    assert await ask(inventory, HOSTNAME_TO_IP, "ws-042.corp.example") == ["10.20.0.42"]
    assert await ask(inventory, HOSTNAME_TO_IP, "ws-017.corp.example") == ["10.20.0.17"]  # an FQDN finds a bare name
    assert await ask(inventory, HOSTNAME_TO_IP, "ws-042.lab.example") == []
    assert await ask(inventory, IP_TO_HOSTNAME, "10.9.9.9") == []


async def test_host_info_and_the_owner_as_host_user(inventory: StaticInventory) -> None:
    assert await ask(inventory, HOST_INFO, "ws-042") == [
        HostInfo(
            hostname="ws-042.corp.example",
            os="Windows 11",
            ip="10.20.0.42",
            mac="00:16:3e:12:34:56",
            owner="jdoe",
            site="Berlin",
        )
    ]
    (owner,) = await inventory.ask(Lookup(HOST_USER, "ws-042.corp.example"))
    assert (owner.value, owner.confidence) == ("jdoe", 0.5)  # an owner is not always the one logged on
    assert await ask(inventory, HOST_USER, "ws-017") == []  # no owner: no answer
    assert [h.hostname for h in await ask(inventory, HOST_INFO, "ws-017.corp.example")] == ["ws-017"]


async def test_observed_at_comes_from_updated_else_the_file_time(
    inventory: StaticInventory, files: dict[str, Path]
) -> None:
    dated = (await inventory.ask(Lookup(IP_TO_HOSTNAME, "10.20.0.42")))[0]
    undated = (await inventory.ask(Lookup(IP_TO_HOSTNAME, "10.20.0.17")))[0]
    assert dated.observed_at is not None and dated.observed_at.isoformat() == "2026-11-01T09:00:00+00:00"
    assert undated.observed_at is not None
    assert undated.observed_at.timestamp() == pytest.approx(files["hosts"].stat().st_mtime)
    assert dated.source_ref == "hosts.csv" and dated.confidence == 0.9


async def test_users_by_name_or_email(inventory: StaticInventory) -> None:
    info = await ask(inventory, USER_INFO, "jane.doe@corp.example")
    assert info[0].username == "jdoe" and info[0].enabled is False and info[0].manager == "asmith"
    assert await ask(inventory, USER_MANAGER, "jdoe") == [
        Person(username="asmith", display_name="Alice Smith", email="alice@corp.example", title="SOC Manager")
    ]
    assert await ask(inventory, USER_MANAGER, "orphan") == [Person(username="ghost")]  # manager not in the table
    assert await ask(inventory, USER_MANAGER, "asmith") == []
    assert await ask(inventory, USER_GROUPS, "jdoe") == [["SOC", "VPN Users"]]
    assert await ask(inventory, USER_GROUPS, "asmith") == []
    assert await ask(inventory, USER_INFO, "nobody") == []
    assert (await ask(inventory, USER_INFO, "jdoe@corp.example"))[0].username == "jdoe"  # a UPN


async def test_indicators(inventory: StaticInventory) -> None:
    eicar = await ask(inventory, HASH_REPUTATION, "44d88612fea8a8f36de82e1278abb02f")
    assert eicar[0].verdict == "malicious" and eicar[0].malicious == 1 and eicar[0].link == "https://example.org/eicar"
    assert (await ask(inventory, IP_REPUTATION, "198.51.100.23"))[0].verdict == "suspicious"
    assert (await ask(inventory, DOMAIN_REPUTATION, "evil.example"))[0].label == "phish"
    assert await ask(inventory, DOMAIN_REPUTATION, "odd.example") == []  # an unknown verdict is skipped
    assert await ask(inventory, HASH_REPUTATION, "0" * 64) == []


async def test_serves_only_what_its_files_cover(files: dict[str, Path]) -> None:
    hosts = ["HOSTNAME_TO_IP", "HOST_INFO", "HOST_USER", "IP_TO_HOSTNAME", "IP_TO_MAC"]
    assert make(hosts=str(files["hosts"])).serves() == hosts
    assert make(indicators=str(files["indicators"]), queries=["HASH_REPUTATION"]).serves() == ["HASH_REPUTATION"]


async def test_reloads_when_a_file_changes(inventory: StaticInventory, files: dict[str, Path]) -> None:
    files["hosts"].write_text("hostname,ip\nnew-host,10.20.0.42\n")
    stat = files["hosts"].stat()
    os.utime(files["hosts"], (stat.st_atime, stat.st_mtime + 5))
    assert await ask(inventory, IP_TO_HOSTNAME, "10.20.0.42") == ["new-host"]


async def test_missing_or_broken_files_are_unavailable_and_unhealthy(tmp_path: Path) -> None:
    missing = make(hosts=str(tmp_path / "nope.csv"))
    with pytest.raises(ProviderUnavailable, match="cannot read hosts table .*nope.csv"):
        await missing.ask(Lookup(IP_TO_HOSTNAME, "10.0.0.1"))
    assert not (await missing.health()).ok
    (tmp_path / "bad.json").write_text("{not json")
    broken = make(users=str(tmp_path / "bad.json"))
    with pytest.raises(ProviderUnavailable, match="JSONDecodeError"):
        await broken.ask(Lookup(USER_INFO, "jdoe"))


async def test_health_counts_rows(inventory: StaticInventory) -> None:
    health = await inventory.health()
    assert health.ok and health.detail == "3 hosts, 3 users, 4 indicators"
