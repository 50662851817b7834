"""Host queries: who uses a host, who used the machine behind an address, and what a host is.

IP_TO_USER is also answered by a chain (``via``): the host that held the address at ``at`` (IP_TO_HOSTNAME), then
the user logged on to that host at ``at`` (HOST_USER). The engine runs the chain beside the providers that answer
IP_TO_USER directly (an EDR's or Fleet's own view, logon events in a log search) and merges both.
"""

from __future__ import annotations

from positron.queries.models import HostInfo
from positron.queries.network import host_key

from positron.inputs import InputKind
from positron.query import MergeStrategy, Query, Sensitivity


def _username(value: str) -> str:
    return value.casefold()


def _hostname(value: HostInfo) -> str:
    return host_key(value.hostname)


HOST_USER: Query[str] = Query(
    name="HOST_USER",
    description="The user logged on to a host (at `at`, or now): a normalized user name.",
    input=InputKind.HOSTNAME,
    output=str,
    merge=MergeStrategy.RANKED,
    cache_ttl_s=300,
    accepts_at=True,
    sensitivity=Sensitivity.PERSONAL,
    key=_username,
    half_life_s=4 * 3600,
)

IP_TO_USER: Query[str] = Query(
    name="IP_TO_USER",
    description=(
        "Who was using the machine that held an IP address (at `at`, or now): a normalized user name, from "
        "EDR/Fleet logged-on users, logon events, or the chain IP_TO_HOSTNAME → HOST_USER."
    ),
    input=InputKind.IP,
    output=str,
    merge=MergeStrategy.RANKED,
    cache_ttl_s=300,
    accepts_at=True,
    sensitivity=Sensitivity.PERSONAL,
    key=_username,
    half_life_s=4 * 3600,
    via=("IP_TO_HOSTNAME", "HOST_USER"),
)

HOST_INFO: Query[HostInfo] = Query(
    name="HOST_INFO",
    description="What a host is: OS, owner, site, last seen, agent ids (a record merged across CMDB, EDR, Fleet).",
    input=InputKind.HOSTNAME,
    output=HostInfo,
    merge=MergeStrategy.RECORD,
    cache_ttl_s=900,
    key=_hostname,
    half_life_s=7 * 86_400,
    host_names=True,
)
