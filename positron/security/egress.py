"""Server-side egress control: which provider instances a value may be sent to.

Every instance is ``internal`` (a source inside the organisation) or ``external`` (a third-party service), and
has a ``max_tlp``, the most sensitive Traffic Light Protocol level it may receive (default: ``red`` for
internal instances, ``amber`` for external ones, as Cortex analyzers default to). Values are classified:

- internal: IP addresses that are not globally routable (private, loopback, link-local, shared/CGNAT, reserved,
  documentation, multicast, unspecified), IPv6 site-local ``fec0::/10``, and IPv6 addresses that carry an
  internal IPv4 address inside: IPv4-mapped ``::ffff:0:0/96``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96`` and
  Teredo ``2001::/32`` (its client address); host names without a dot; names under ``security.internal_domains``
  (or a provider's own ``internal_domains``) or a special-use suffix (``SPECIAL_USE_SUFFIXES``: ``localhost``,
  ``local``, ``internal``, ``intranet``, ``private``, ``lan``, ``home``, ``corp``, ``arpa``, ``invalid``,
  ``test``); every user name and MAC address (they name people and devices inside).
- a URL is classified by its host (an internal address or name makes the whole URL internal).
- external: public IP addresses, public domains and host names, hashes, team names (an on-call service is
  configured for exactly those). ``.example`` names count as public: RFC 6761 asks software not to treat them
  specially, and documentation uses them for public hosts too; a deployment whose names end in ``corp.example``
  lists it in ``security.internal_domains``.

This is the only rule set: the guard asks it for every instance, and an external provider that refuses internal
values in its own handlers (VirusTotal) asks it too (``internal_reason``), so the two can never disagree.

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
# RFC 6761/6762/8375 special-use names, ICANN's reserved ``internal``, and suffixes widely used inside networks.
SPECIAL_USE_SUFFIXES = (
    "localhost",
    "local",
    "internal",
    "intranet",
    "private",
    "lan",
    "home",
    "corp",
    "arpa",
    "invalid",
    "test",
)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


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


def _ipv4_inside(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 transition address carries, with the mechanism's name."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address.teredo is not None:
        return "Teredo", address.teredo[1]
    if address in NAT64:
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _ip_reason(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return "unparsable address"  # not an address after all: never send it out
    if isinstance(address, ipaddress.IPv6Address) and (inside := _ipv4_inside(address)) is not None:
        mechanism, ipv4 = inside
        if (why := _ip_reason(str(ipv4))) is not None:
            return f"{mechanism} address wrapping a {why}"
        if mechanism in ("NAT64", "IPv4-mapped"):  # only another spelling of that IPv4 address (::/8 is "reserved")
            return None
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),
    )
    return next((f"{what} address" for what, hit in checks if hit), None)


def _name_reason(value: str, internal_domains: Iterable[str]) -> str | None:
    name = value.rstrip(".").lower()
    if "." not in name:
        return "host name without a domain"  # a bare host name only means something inside
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return _ip_reason(name)
    for suffix in (*internal_domains, *SPECIAL_USE_SUFFIXES):
        suffix = suffix.strip(".").lower()
        if name == suffix or name.endswith("." + suffix):
            return "internal domain"
    return None


def internal_reason(kind: InputKind, value: str, internal_domains: Iterable[str] = ()) -> str | None:
    """Why a normalized input value is internal (``"private address"``, ``"internal domain"``), or None."""
    if kind == InputKind.USERNAME:
        return "user name"
    if kind == InputKind.MAC:
        return "MAC address"
    if kind == InputKind.IP:
        return _ip_reason(value)
    if kind in (InputKind.HOSTNAME, InputKind.DOMAIN):
        return _name_reason(value, internal_domains)
    if kind == InputKind.URL:  # a URL is as internal as its host
        host = url_host(value)
        return _ip_reason(host) if _is_ip(host) else _name_reason(host, internal_domains)
    return None  # hashes and team names say nothing secret about the inside


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def classify(kind: InputKind, value: str, internal_domains: Iterable[str] = ()) -> Egress:
    """Whether a normalized input value is internal (must not leave) or external."""
    return "external" if internal_reason(kind, value, internal_domains) is None else "internal"


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
