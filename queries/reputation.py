"""Reputation queries: what threat intelligence says about a hash, an IP address, a domain or a URL."""

from __future__ import annotations

from positron.queries.models import Reputation

from positron.inputs import InputKind
from positron.query import MergeStrategy, Query, Sensitivity


def reputation_key(value: Reputation) -> str:
    """What makes two reputations the same answer (cheap: merging compares many)."""
    rep = value
    return f"{rep.verdict}|{rep.malicious}|{rep.suspicious}|{rep.total}|{rep.label}|{rep.link}|{rep.allowlisted}"


HASH_REPUTATION: Query[Reputation] = Query(
    name="HASH_REPUTATION",
    description="Verdict on a file hash (MD5, SHA-1 or SHA-256) from threat-intelligence sources.",
    input=InputKind.HASH,
    output=Reputation,
    merge=MergeStrategy.VERDICT,
    cache_ttl_s=3600,
    sensitivity=Sensitivity.INDICATOR,
    key=reputation_key,
    half_life_s=365 * 86_400,  # a file's verdict ages slowly
)

IP_REPUTATION: Query[Reputation] = Query(
    name="IP_REPUTATION",
    description="Verdict on an IP address from threat-intelligence sources.",
    input=InputKind.IP,
    output=Reputation,
    merge=MergeStrategy.VERDICT,
    cache_ttl_s=1800,
    sensitivity=Sensitivity.INDICATOR,
    key=reputation_key,
    half_life_s=30 * 86_400,  # addresses change hands
)

DOMAIN_REPUTATION: Query[Reputation] = Query(
    name="DOMAIN_REPUTATION",
    description="Verdict on a domain from threat-intelligence sources.",
    input=InputKind.DOMAIN,
    output=Reputation,
    merge=MergeStrategy.VERDICT,
    cache_ttl_s=1800,
    sensitivity=Sensitivity.INDICATOR,
    key=reputation_key,
    half_life_s=90 * 86_400,
)

URL_REPUTATION: Query[Reputation] = Query(
    name="URL_REPUTATION",
    description="Verdict on a URL (normalized and refanged: hxxp, [.]) from threat-intelligence sources.",
    input=InputKind.URL,
    output=Reputation,
    merge=MergeStrategy.VERDICT,
    cache_ttl_s=1800,
    sensitivity=Sensitivity.INDICATOR,
    key=reputation_key,
    half_life_s=7 * 86_400,  # phishing and malware URLs live for days, not months
)
