#!/usr/bin/env python3
"""Write the Cortex flavors (``Positron/Positron_<QUERY>.json``) from one description, so the ten files never drift.

    python clients/cortex/make_flavors.py          # rewrite the flavor files
    python clients/cortex/make_flavors.py --check  # exit 1 when a committed file differs (tests do this)

Every flavor shares ``baseConfig: "Positron"``, so the items below are set once in Cortex (Analyzers Config →
Positron): where Positron is (``url``), the API key, a timeout, TLS (``verify_ssl``, ``ca_bundle`` for a Positron
behind an internal CA; Cortex's own ``cacerts`` setting is honoured too), and the TLP/PAP limits cortexutils
enforces before anything is sent (``check_tlp``/``max_tlp``, ``check_pap``/``max_pap``). ``HOMEPAGE`` is the
analyzer's documentation: change it here if you publish Positron elsewhere.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "Positron"
HOMEPAGE = (
    "https://github.com/positron-broker/positron/blob/main/docs/clients.md#cortex-analyzer--clientscortexpositron"
)
VERSION = "1.1"
USER_TYPES = ["mail", "username", "other"]
HOST_TYPES = ["domain", "fqdn", "hostname"]
FLAVORS: dict[str, tuple[list[str], str]] = {  # query → (Cortex data types, what it answers)
    "IP_TO_HOSTNAME": (
        ["ip"],
        "The host that held an IP address, at parameter `at` (e.g. the alert time) or now, merged from every source "
        "Positron asks (DHCP, inventory, DNS, Splunk, ...).",
    ),
    "IP_TO_MAC": (
        ["ip"],
        "The MAC address behind an IP address, at parameter `at` or now, from every source Positron asks.",
    ),
    "IP_REPUTATION": (["ip"], "One verdict on an IP address from every threat-intelligence source Positron asks."),
    "HASH_REPUTATION": (
        ["hash"],
        "One verdict on a file hash (MD5, SHA-1, SHA-256) from every threat-intelligence source Positron asks.",
    ),
    "HOSTNAME_TO_IP": (
        HOST_TYPES,
        "The IP address a host had, at parameter `at` or now, from every source Positron asks.",
    ),
    "DOMAIN_REPUTATION": (HOST_TYPES, "One verdict on a domain from every threat-intelligence source Positron asks."),
    "USER_INFO": (
        USER_TYPES,
        "Directory facts about a user (name, title, department, location, mail, phone, enabled, manager) merged from "
        "every source Positron asks.",
    ),
    "USER_MANAGER": (USER_TYPES, "A user's manager (name, mail, title) from every directory Positron asks."),
    "USER_GROUPS": (USER_TYPES, "The groups a user belongs to, the union over every directory Positron asks."),
    "TEAM_ONCALL": (
        ["other"],
        "Who is on call for a team (an `other` observable holding the team's name), at parameter `at` or now, level "
        "1 first, from every on-call source Positron asks (PagerDuty, ...).",
    ),
    "IP_TO_USER": (
        ["ip"],
        "Who was using the machine that held an IP address, at parameter `at` (e.g. the alert time) or now: EDR and "
        "Fleet logged-on users, logon events, or the host that held the address then and its user then.",
    ),
    "HOST_USER": (
        HOST_TYPES,
        "The user logged on to a host, at parameter `at` or now, from every source Positron asks (EDR, Fleet, "
        "logon events, inventory owners).",
    ),
    "HOST_INFO": (
        HOST_TYPES,
        "What a host is (OS, owner, site, last seen, agent ids), one record merged across inventory, EDR and Fleet.",
    ),
}


def item(name: str, kind: str, description: str, required: bool = False, default: Any = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "description": description, "type": kind, "multi": False}
    entry["required"] = required
    if default is not None:
        entry["defaultValue"] = default
    return entry


CONFIGURATION_ITEMS = [
    item("url", "string", "Positron's base URL, e.g. https://positron.corp.example", True),
    item("key", "string", "A Positron API key (sent as Authorization: Bearer)", True),
    item("timeout", "number", "Seconds to wait for Positron's answer", default=30),
    item("verify_ssl", "boolean", "Verify Positron's TLS certificate (keep it on; see ca_bundle)", default=True),
    item("ca_bundle", "string", "Path to a PEM CA bundle on the Cortex host, for a Positron behind an internal CA"),
    item("check_tlp", "boolean", "Refuse observables above max_tlp before anything is sent", default=True),
    item("max_tlp", "number", "Highest TLP sent to Positron (0 clear/white, 1 green, 2 amber, 3 red)", default=2),
    item("check_pap", "boolean", "Refuse observables above max_pap before anything is sent", default=True),
    item("max_pap", "number", "Highest PAP allowed (0 white, 1 green, 2 amber, 3 red)", default=2),
]


def flavor(query: str) -> dict[str, Any]:
    data_types, what = FLAVORS[query]
    return {
        "name": f"Positron_{query}",
        "version": VERSION,
        "author": "Positron contributors",
        "url": HOMEPAGE,
        "license": "Apache-2.0",
        "description": f"Positron {query}: {what}",
        "dataTypeList": data_types,
        "command": "Positron/positron_analyzer.py",
        "baseConfig": "Positron",
        # the limits' defaults, for a Cortex where the Positron config was never saved; the items below override them
        "config": {"service": query, "check_tlp": True, "max_tlp": 2, "check_pap": True, "max_pap": 2,
                   "auto_extract": False},
        "configurationItems": CONFIGURATION_ITEMS,
        "registration_required": False,
        "subscription_required": False,
        "free_subscription": False,
        "service_homepage": HOMEPAGE,
    }


def render(query: str) -> str:
    return json.dumps(flavor(query), indent=2, ensure_ascii=False) + "\n"


def _current(query: str) -> str | None:
    path = HERE / f"Positron_{query}.json"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def main(argv: list[str]) -> int:
    stale = [q for q in FLAVORS if _current(q) != render(q)]
    if "--check" in argv:
        for query in stale:
            sys.stderr.write(f"Positron_{query}.json is stale: run python clients/cortex/make_flavors.py\n")
        return 1 if stale else 0
    for query in stale:
        (HERE / f"Positron_{query}.json").write_text(render(query), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
