"""The standard queries the client knows by name: their input kind, whether they take ``at``, and how to parse
their answer values. Other names still work through ``query()`` (answer values stay plain JSON)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from positron_client._models import (
    parse_any,
    parse_host_info,
    parse_oncall,
    parse_person,
    parse_reputation,
    parse_str,
    parse_str_list,
    parse_user_info,
)


@dataclass(frozen=True, slots=True)
class StandardQuery:
    name: str
    input: str  # the server's input kind: ip, hostname, username, hash, domain, team, url
    accepts_at: bool
    parse: Callable[[Any], Any]


STANDARD_QUERIES: dict[str, StandardQuery] = {
    q.name: q
    for q in (
        StandardQuery("IP_TO_HOSTNAME", "ip", True, parse_str),
        StandardQuery("HOSTNAME_TO_IP", "hostname", True, parse_str),
        StandardQuery("IP_TO_MAC", "ip", True, parse_str),
        StandardQuery("USER_INFO", "username", False, parse_user_info),
        StandardQuery("USER_MANAGER", "username", False, parse_person),
        StandardQuery("USER_GROUPS", "username", False, parse_str_list),
        StandardQuery("HASH_REPUTATION", "hash", False, parse_reputation),
        StandardQuery("IP_REPUTATION", "ip", False, parse_reputation),
        StandardQuery("DOMAIN_REPUTATION", "domain", False, parse_reputation),
        StandardQuery("URL_REPUTATION", "url", False, parse_reputation),
        StandardQuery("TEAM_ONCALL", "team", True, parse_oncall),
        StandardQuery("IP_TO_USER", "ip", True, parse_str),
        StandardQuery("HOST_USER", "hostname", True, parse_str),
        StandardQuery("HOST_INFO", "hostname", False, parse_host_info),
    )
}


def canonical_name(name: str) -> str:
    """As the server canonicalizes: ``ip_to_hostname`` and ``Ip-To-Hostname`` name IP_TO_HOSTNAME."""
    return name.strip().strip("/").upper().replace("-", "_")


def value_parser(name: str) -> Callable[[Any], Any]:
    known = STANDARD_QUERIES.get(canonical_name(name))
    return known.parse if known else parse_any
