"""Network queries: who held an address, what an address a host has."""

from __future__ import annotations

from positron.inputs import InputKind
from positron.query import MergeStrategy, Query


def host_key(hostname: str) -> str:
    return hostname.strip().rstrip(".").casefold()


IP_TO_HOSTNAME: Query[str] = Query(
    name="IP_TO_HOSTNAME",
    description="The host that held an IP address (at `at`, or now).",
    input=InputKind.IP,
    output=str,
    merge=MergeStrategy.RANKED,
    cache_ttl_s=300,
    accepts_at=True,
    key=host_key,
    half_life_s=6 * 3600,
    host_names=True,
)

HOSTNAME_TO_IP: Query[str] = Query(
    name="HOSTNAME_TO_IP",
    description="The IP address a host had (at `at`, or now).",
    input=InputKind.HOSTNAME,
    output=str,
    merge=MergeStrategy.RANKED,
    cache_ttl_s=300,
    accepts_at=True,
    half_life_s=6 * 3600,
)

IP_TO_MAC: Query[str] = Query(
    name="IP_TO_MAC",
    description="The hardware (MAC) address behind an IP address (at `at`, or now).",
    input=InputKind.IP,
    output=str,
    merge=MergeStrategy.RANKED,
    cache_ttl_s=300,
    accepts_at=True,
    half_life_s=6 * 3600,
)
