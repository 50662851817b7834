"""The embedded offline demo: sample data shipped in the package, no config, no network.

Providers: an asset/people inventory (static_inventory), an HR export as a second inventory instance, a local
indicator list, and ISC dhcpd leases. IP_TO_HOSTNAME merges the inventory with DHCP; USER_MANAGER merges the
inventory with the HR export (which disagrees about bwhite's manager: a conflict to look at).
"""

from __future__ import annotations

import secrets
from importlib.resources import files
from pathlib import Path
from typing import Any

DATA = Path(str(files("positron.demo").joinpath("data")))
DEMO_PRINCIPAL = "demo"


def new_demo_key() -> str:
    return secrets.token_urlsafe(32)


def demo_config(api_key: str) -> dict[str, Any]:
    return {
        "demo": True,
        "server": {"host": "127.0.0.1", "port": 8080},
        "api_keys": [{"principal": DEMO_PRINCIPAL, "key": api_key, "groups": ["admins"]}],
        "providers": {
            "inventory": {
                "type": "static_inventory",
                "weight": 0.8,
                "hosts": str(DATA / "hosts.csv"),
                "users": str(DATA / "users.csv"),
            },
            "hr_export": {"type": "static_inventory", "weight": 0.9, "users": str(DATA / "hr_export.json")},
            "local_iocs": {"type": "static_inventory", "weight": 0.9, "indicators": str(DATA / "indicators.csv")},
            "dhcp": {
                "type": "dhcp_leases",
                "weight": 1.0,
                "files": [{"path": str(DATA / "dhcpd.leases"), "format": "isc"}],
            },
        },
    }
