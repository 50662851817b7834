"""Server-side egress control: which provider instances a value may be sent to.

Every instance is ``internal`` (a source inside the organisation) or ``external`` (a third-party service), and
has a ``max_tlp``, the most sensitive Traffic Light Protocol level it may receive (default: ``red`` for
internal instances, ``amber`` for external ones, as Cortex analyzers default to). Values are classified:

- internal: private, loopback, link-local, reserved, multicast, unspecified and shared (CGNAT) IP addresses;
  host names without a dot; names under ``security.internal_domains`` or a special-use suffix (``.local``,
  ``.internal``, ``.corp``, ...); every user name and MAC address (they name people and devices inside).
- a URL is classified by its host (an internal address or name makes the whole URL internal).
- external: public IP addresses, public domains and host names, hashes, team names (an on-call service is
  configured for exactly those).

An internal value never goes to an external instance unless that instance sets ``allow_internal: true``; a
request's ``tlp`` above an instance's ``max_tlp`` skips it. Both become ``skipped`` statuses with the reason.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Literal, get_args

from positron.inputs import InputKind, url_host

Tlp = Literal["clear", "green", "amber", "red"]
Egress = Literal["internal", "external"]
TLP_LEVELS: tuple[Tlp, ...] = get_args(Tlp)
TLP_ALIASES: dict[object, Tlp] = {"white": "clear", 0: "clear", 1: "green", 2: "amber", 3: "red"}
SPECIAL_USE_SUFFIXES = ("localhost", "local", "internal", "intranet", "lan", "home", "corp", "arpa", "invalid", "test")
ALWAYS_INTERNAL = frozenset({InputKind.USERNAME, InputKind.MAC})


def parse_tlp(raw: object) -> object:
    """``TLP:AMBER``, ``amber``, ``white`` and Cortex's 0..3 all name a level; anything else is left to validation."""
    if isinstance(raw, str):
        text = raw.strip().lower().removeprefix("tlp:")
        return TLP_ALIASES.get(text, text)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return TLP_ALIASES.get(raw, raw)
    return raw


def tlp_rank(level: Tlp) -> int:
    return TLP_LEVELS.index(level)


def default_max_tlp(egress: Egress) -> Tlp:
    return "red" if egress == "internal" else "amber"


def _internal_ip(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return True  # not an address after all: treat as internal, never send it out
    return not address.is_global or address.is_multicast


def _internal_name(value: str, internal_domains: Iterable[str]) -> bool:
    name = value.rstrip(".").lower()
    if "." not in name:
        return True  # a bare host name only means something inside
    for suffix in (*internal_domains, *SPECIAL_USE_SUFFIXES):
        suffix = suffix.strip(".").lower()
        if name == suffix or name.endswith("." + suffix):
            return True
    return False


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def classify(kind: InputKind, value: str, internal_domains: Iterable[str] = ()) -> Egress:
    """Whether a normalized input value is internal (must not leave) or external."""
    if kind in ALWAYS_INTERNAL:
        return "internal"
    if kind == InputKind.IP:
        return "internal" if _internal_ip(value) else "external"
    if kind in (InputKind.HOSTNAME, InputKind.DOMAIN):
        return "internal" if _internal_name(value, internal_domains) else "external"
    if kind == InputKind.URL:  # a URL is as internal as its host
        host = url_host(value)
        internal = _internal_ip(host) if _is_ip(host) else _internal_name(host, internal_domains)
        return "internal" if internal else "external"
    return "external"  # hashes and team names say nothing secret about the inside


def skip_reason(
    egress: Egress, max_tlp: Tlp | None, allow_internal: bool, value_class: Egress, tlp: Tlp | None
) -> str | None:
    """Why an instance must not receive this value, or None."""
    if egress == "external" and value_class == "internal" and not allow_internal:
        return "egress: internal value not sent to an external service"
    limit = max_tlp or default_max_tlp(egress)
    if tlp is not None and tlp_rank(tlp) > tlp_rank(limit):
        return f"tlp: the request is TLP:{tlp.upper()}, this instance accepts up to TLP:{limit.upper()}"
    return None
