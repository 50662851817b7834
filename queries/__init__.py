"""The query catalog: every standardized query Positron ships, by name.

Installed as ``positron.queries`` and declared to the core through the ``positron.queries`` entry point
(``CATALOG``); providers import the query objects from here."""

from __future__ import annotations

from positron.queries.host import HOST_INFO, HOST_USER, IP_TO_USER
from positron.queries.identity import USER_GROUPS, USER_INFO, USER_MANAGER
from positron.queries.models import HostInfo, OnCall, Person, Reputation, UserInfo, Verdict
from positron.queries.network import HOSTNAME_TO_IP, IP_TO_HOSTNAME, IP_TO_MAC
from positron.queries.oncall import TEAM_ONCALL
from positron.queries.reputation import DOMAIN_REPUTATION, HASH_REPUTATION, IP_REPUTATION, URL_REPUTATION

from positron.catalog import Catalog, canonical_name

CATALOG = Catalog(
    (
        IP_TO_HOSTNAME,
        HOSTNAME_TO_IP,
        IP_TO_MAC,
        USER_INFO,
        USER_MANAGER,
        USER_GROUPS,
        HASH_REPUTATION,
        IP_REPUTATION,
        DOMAIN_REPUTATION,
        URL_REPUTATION,
        TEAM_ONCALL,
        IP_TO_USER,
        HOST_USER,
        HOST_INFO,
    )
)
get_query = CATALOG.get_query


__all__ = [
    "CATALOG",
    "DOMAIN_REPUTATION",
    "HASH_REPUTATION",
    "HOST_INFO",
    "HOST_USER",
    "HOSTNAME_TO_IP",
    "IP_REPUTATION",
    "IP_TO_HOSTNAME",
    "IP_TO_MAC",
    "IP_TO_USER",
    "TEAM_ONCALL",
    "URL_REPUTATION",
    "USER_GROUPS",
    "USER_INFO",
    "USER_MANAGER",
    "HostInfo",
    "OnCall",
    "Person",
    "Reputation",
    "UserInfo",
    "Verdict",
    "canonical_name",
    "get_query",
]
