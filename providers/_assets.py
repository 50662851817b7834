"""Helpers the asset and identity providers share (fleet, crowdstrike, entra_id, elasticsearch): how a host name
from a source is matched to the one asked about, how an account from a source becomes a Positron user name, how a
source's timestamps are read, and the config field types they share (``CaFile``, ``Domains``). No network I/O."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator

from positron.provider import InvalidInput, normalize_hostname, normalize_ip, normalize_mac, normalize_username


def check_ca_file(value: str) -> str:
    if not os.path.isfile(value):
        raise ValueError(f"no such file: {value}")
    return value


def same_host(asked: str, seen: str | None) -> bool:
    """Whether a source's host name names the host asked about: equal, or one is the other's short name
    (``ws-042`` and ``ws-042.corp.example``). Both sides are normalized; a name that is not valid never matches."""
    name = host_name(seen)
    if name is None:
        return False
    if name == asked:
        return True
    short, other = (name, asked) if "." not in name else (asked, name)
    return "." not in short and other.split(".", 1)[0] == short


def host_name(raw: Any) -> str | None:
    return _normalized(normalize_hostname, raw)


def ip_address(raw: Any) -> str | None:
    return _normalized(normalize_ip, raw)


def mac_address(raw: Any) -> str | None:
    return _normalized(normalize_mac, raw)


def username(raw: Any, strip_domains: list[str]) -> str | None:
    """A source's account (``CORP\\jdoe``, ``jdoe@corp.example``, ``jdoe``) as a Positron user name; an
    e-mail/UPN in one of ``strip_domains`` becomes its local part, so it merges with the directory's
    sAMAccountName (``jdoe@corp.example`` → ``jdoe``)."""
    name = _normalized(normalize_username, raw)
    if name is None or "@" not in name:
        return name
    local, _, domain = name.rpartition("@")
    return local if domain in strip_domains else name


def parse_time(raw: Any) -> datetime | None:
    """ISO 8601 (``Z`` or an offset, or none = UTC) → aware UTC; anything else → None. Zero dates (Fleet's
    ``0001-01-01T00:00:00Z`` for never) are None."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        parsed = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None if parsed.year < 1971 else parsed.astimezone(UTC)


def text(raw: Any) -> str | None:
    return raw.strip() if isinstance(raw, str) and raw.strip() else None


def normalize_domains(value: list[str]) -> list[str]:
    return [item.strip().strip(".").casefold() for item in value if item.strip()]


CaFile = Annotated[str, AfterValidator(check_ca_file)]
"""A config field naming a PEM bundle that must exist."""
Domains = Annotated[list[str], AfterValidator(normalize_domains)]
"""A config field listing domain suffixes, normalized (trimmed, no dots at the ends, case-folded)."""


def _normalized(normalize: Any, raw: Any) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        result: str = normalize(raw)
    except InvalidInput:
        return None
    return result
