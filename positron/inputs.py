"""Input kinds: what a query accepts, validated and normalized before any provider sees it.

Every function takes the caller's raw string and returns the canonical form, or raises InvalidInput with a
message that says what was expected. Providers can rely on the canonical form (for example when they put the
value into an LDAP filter or an SPL search, where it is escaped again).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

from positron.errors import InvalidInput

MAX_VALUE_LENGTH = 512
MAX_URL_LENGTH = 2048  # what browsers and most proxies accept; longer ones are not worth a lookup


class InputKind(StrEnum):
    IP = "ip"
    HOSTNAME = "hostname"
    DOMAIN = "domain"
    USERNAME = "username"
    HASH = "hash"
    MAC = "mac"
    TEAM = "team"
    URL = "url"


EXPECTED: dict[InputKind, str] = {
    InputKind.IP: "an IPv4 or IPv6 address, e.g. 10.1.2.3 or 2001:db8::1",
    InputKind.HOSTNAME: "a host name or FQDN, e.g. ws-042 or ws-042.corp.example",
    InputKind.DOMAIN: "a domain name with at least one dot, e.g. example.com",
    InputKind.USERNAME: "a user name: sAMAccountName (jdoe), DOMAIN\\jdoe, or UPN/email (jdoe@corp.example)",
    InputKind.HASH: "an MD5, SHA-1 or SHA-256 hash in hex (32, 40 or 64 characters)",
    InputKind.MAC: "a MAC address, e.g. aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF or aabb.ccdd.eeff",
    InputKind.TEAM: "a team name: letters, digits, spaces, '.', '_' or '-' (at most 128 characters)",
    InputKind.URL: "an http(s) or ftp URL, defanged forms accepted, e.g. hxxps://evil[.]example/login",
}

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9._$-]{0,63}$")
_NETBIOS = re.compile(r"^[a-z0-9][a-z0-9._-]{0,14}$")
_HEX = re.compile(r"^[0-9a-f]+$")
_TEAM = re.compile(r"^[\w][\w .-]{0,127}$")
HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256"}


def _fail(kind: InputKind, raw: str) -> InvalidInput:
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    return InvalidInput(f"expected {EXPECTED[kind]}; got {shown!r}")


def normalize_ip(raw: str) -> str:
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        raise _fail(InputKind.IP, raw) from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return address.compressed


def normalize_hostname(raw: str) -> str:
    name = raw.strip().rstrip(".").casefold()
    try:
        name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        raise _fail(InputKind.HOSTNAME, raw) from None
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _fail(InputKind.HOSTNAME, raw)
    if all(label.isdigit() for label in labels):
        raise _fail(InputKind.HOSTNAME, raw)
    return name


def normalize_domain(raw: str) -> str:
    try:
        name = normalize_hostname(raw)
    except InvalidInput:
        raise _fail(InputKind.DOMAIN, raw) from None
    if "." not in name:
        raise _fail(InputKind.DOMAIN, raw)
    return name


def normalize_username(raw: str) -> str:
    """``DOMAIN\\jdoe`` → ``jdoe``; ``JDoe@Corp.Example`` → ``jdoe@corp.example``; ``JDOE`` → ``jdoe``."""
    value = raw.strip().casefold()
    if "\\" in value:
        domain, _, account = value.partition("\\")
        if not _NETBIOS.match(domain) or not _ACCOUNT.match(account):
            raise _fail(InputKind.USERNAME, raw)
        return account
    if "@" in value:
        account, _, realm = value.rpartition("@")
        if not _ACCOUNT.match(account):
            raise _fail(InputKind.USERNAME, raw)
        try:
            return f"{account}@{normalize_domain(realm)}"
        except InvalidInput:
            raise _fail(InputKind.USERNAME, raw) from None
    if not _ACCOUNT.match(value):
        raise _fail(InputKind.USERNAME, raw)
    return value


def normalize_hash(raw: str) -> str:
    value = raw.strip().casefold()
    if len(value) not in HASH_LENGTHS or not _HEX.match(value):
        raise _fail(InputKind.HASH, raw)
    return value


def normalize_mac(raw: str) -> str:
    digits = re.sub(r"[:.\-\s]", "", raw.strip().casefold())
    if len(digits) != 12 or not _HEX.match(digits):
        raise _fail(InputKind.MAC, raw)
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normalize_team(raw: str) -> str:
    value = " ".join(raw.split()).casefold()
    if not _TEAM.match(value):
        raise _fail(InputKind.TEAM, raw)
    return value


_REFANGS = (("[.]", "."), ("(.)", "."), ("{.}", "."), ("[dot]", "."), ("[:]", ":"), ("[://]", "://"), ("[/]", "/"))
_REFANG_MAIL = (("[@]", "@"), ("[at]", "@"))
_HXXP = re.compile(r"\b(?:hxxp|hxtp|hxxxp)(s?)(?=(?:\[?:\]?)?//|\[://\])", re.IGNORECASE)
_URL_SCHEMES = ("http", "https", "ftp")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")


def refang(text: str) -> str:
    """Undo the usual defanging of indicators: ``hxxp://`` → ``http://``, ``[.]`` / ``(.)`` / ``[dot]`` → ``.``,
    ``[:]`` → ``:``, ``[@]`` / ``[at]`` → ``@``. Text that was not defanged comes back unchanged."""
    text = _HXXP.sub(r"http\1", text)
    for fanged, plain in (*_REFANGS, *_REFANG_MAIL):
        text = text.replace(fanged, plain)
    return text


def normalize_url(raw: str) -> str:
    """A canonical URL: refanged, scheme and host lower case (IDNA), default port and fragment dropped, an empty
    path as ``/``; ``example.com/x`` gains ``http://``. Path and query are kept byte for byte (they are often
    case-sensitive), so two spellings of one resource only merge when they differ in what is insensitive."""
    text = refang(raw.strip())
    if "://" not in text:
        text = "http://" + text
    if _URL_FORBIDDEN.search(text):
        raise _fail(InputKind.URL, raw)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise _fail(InputKind.URL, raw) from None
    scheme = parts.scheme.lower()
    if scheme not in _URL_SCHEMES or not parts.hostname:
        raise _fail(InputKind.URL, raw)
    host = _url_host(parts.hostname, raw)
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    netloc = f"{userinfo}@{netloc}" if userinfo else netloc
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _url_host(hostname: str, raw: str) -> str:
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        try:
            return normalize_hostname(hostname)
        except InvalidInput:
            raise _fail(InputKind.URL, raw) from None
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def url_host(url: str) -> str:
    """The host of a normalized URL: a domain name or an IP address (without brackets)."""
    return urlsplit(url).hostname or ""


NORMALIZERS: dict[InputKind, Callable[[str], str]] = {
    InputKind.IP: normalize_ip,
    InputKind.HOSTNAME: normalize_hostname,
    InputKind.DOMAIN: normalize_domain,
    InputKind.USERNAME: normalize_username,
    InputKind.HASH: normalize_hash,
    InputKind.MAC: normalize_mac,
    InputKind.TEAM: normalize_team,
    InputKind.URL: normalize_url,
}


def normalize(kind: InputKind, raw: str) -> str:
    if len(raw) > (MAX_URL_LENGTH if kind is InputKind.URL else MAX_VALUE_LENGTH):
        raise InvalidInput(f"expected {EXPECTED[kind]}; got a value of {len(raw)} characters")
    if not is_unicode(raw):
        raise InvalidInput(f"expected {EXPECTED[kind]}; got text with a lone surrogate (e.g. \\ud800), not Unicode")
    return NORMALIZERS[kind](raw)


def is_unicode(text: str) -> bool:
    """False for text that holds a lone UTF-16 surrogate (JSON's ``"\\ud800"``): it has no UTF-8 form."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def hash_type(value: str) -> str:
    """The algorithm of a normalized hash: md5, sha1 or sha256."""
    return HASH_LENGTHS[len(value)]
