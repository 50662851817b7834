"""The query catalog: every standardized query Positron knows, by name."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from positron.errors import UnknownQuery
from positron.queries.identity import USER_GROUPS, USER_INFO, USER_MANAGER
from positron.queries.models import OnCall, Person, Reputation, UserInfo, Verdict
from positron.queries.network import HOSTNAME_TO_IP, IP_TO_HOSTNAME, IP_TO_MAC
from positron.queries.oncall import TEAM_ONCALL
from positron.queries.reputation import DOMAIN_REPUTATION, HASH_REPUTATION, IP_REPUTATION
from positron.query import Query

CATALOG: dict[str, Query[Any]] = {
    q.name: q
    for q in (
        IP_TO_HOSTNAME,
        HOSTNAME_TO_IP,
        IP_TO_MAC,
        USER_INFO,
        USER_MANAGER,
        USER_GROUPS,
        HASH_REPUTATION,
        IP_REPUTATION,
        DOMAIN_REPUTATION,
        TEAM_ONCALL,
    )
}


def canonical_name(raw: str) -> str:
    """``ip_to_hostname``, ``IP_TO_HOSTNAME/``, `` Ip-To-Hostname`` and ``%49P_TO_HOSTNAME`` all name
    IP_TO_HOSTNAME. URL encoding is undone repeatedly (``%2549`` is ``%49`` is ``I``), so no spelling of a name
    can reach a query under a name the access policy does not see."""
    name = raw
    for _ in range(3):
        decoded = unquote(name)
        if decoded == name:
            break
        name = decoded
    return name.strip().strip("/").upper().replace("-", "_")


def get_query(raw_name: str) -> Query[Any]:
    name = canonical_name(raw_name)
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(CATALOG)
        raise UnknownQuery(f"unknown query {raw_name[:64]!r}; known queries: {known}") from None


__all__ = [
    "CATALOG",
    "DOMAIN_REPUTATION",
    "HASH_REPUTATION",
    "HOSTNAME_TO_IP",
    "IP_REPUTATION",
    "IP_TO_HOSTNAME",
    "IP_TO_MAC",
    "TEAM_ONCALL",
    "USER_GROUPS",
    "USER_INFO",
    "USER_MANAGER",
    "OnCall",
    "Person",
    "Reputation",
    "UserInfo",
    "Verdict",
    "canonical_name",
    "get_query",
]
