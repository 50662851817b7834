"""Alert enrichment: observables out of a raw alert (or given typed), the queries that apply to each, and a
Markdown summary ready to paste into a ticket.

Extraction uses field-name hints (``user`` → a user name, ``md5`` → a hash, ``src`` → an IP or a host) plus
patterns over every string (IPv4/IPv6, MD5/SHA-1/SHA-256, e-mail addresses, URLs, defanged domains). Values are
refanged (``hxxp``, ``[.]``), normalized with the query input rules and de-duplicated. Plain ``a.b`` tokens are
not taken as domains unless a field hint or a URL says so (file names would drown the alert).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from positron.errors import InvalidInput
from positron.inputs import (
    normalize_domain,
    normalize_hash,
    normalize_hostname,
    normalize_ip,
    normalize_url,
    normalize_username,
    refang,
)

DEFAULT_HINTS: dict[str, str] = {
    **dict.fromkeys(["user", "src_user", "dest_user", "username", "user_name", "account", "account_name"], "username"),
    **dict.fromkeys(
        ["hostname", "src_host", "dest_host", "src_nt_host", "dest_nt_host", "computer", "computername"], "hostname"
    ),
    **dict.fromkeys(["src", "dest", "src_ip", "dest_ip", "ip", "client_ip", "clientip", "dvc_ip"], "ip_or_host"),
    **dict.fromkeys(["md5", "sha1", "sha256", "file_hash", "hash"], "hash"),
    **dict.fromkeys(["email", "mail", "sender", "recipient", "src_user_email"], "mail"),
    **dict.fromkeys(["domain", "dest_domain", "query", "url_domain"], "domain"),
    "url": "url",
}
NULLISH = frozenset({"-", "unknown", "n/a", "na", "none", "null", "nil", "localhost", "undefined"})
TIME_FIELDS = ("_time", "time", "timestamp", "alert_time")
SPLUNK_META = {"search_name", "sid", "results_link", "app", "owner", "server_host", "server_uri", "results_file"}

TYPE_QUERIES: dict[str, tuple[str, ...]] = {
    "ip": ("IP_TO_HOSTNAME", "IP_TO_USER", "IP_TO_MAC", "IP_REPUTATION"),
    "hash": ("HASH_REPUTATION",),
    "domain": ("DOMAIN_REPUTATION", "HOSTNAME_TO_IP"),
    "hostname": ("HOSTNAME_TO_IP", "HOST_USER", "HOST_INFO"),
    "username": ("USER_INFO", "USER_MANAGER"),
    "mail": ("USER_INFO", "USER_MANAGER"),
    "url": ("URL_REPUTATION",),
}
NORMALIZERS: dict[str, Callable[[str], str]] = {
    "ip": normalize_ip,
    "hash": normalize_hash,
    "domain": normalize_domain,
    "hostname": normalize_hostname,
    "username": normalize_username,
    "mail": normalize_username,
    "url": normalize_url,
}

_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{0,4}(?![\w:])")
_HASH = re.compile(r"(?<![0-9a-fA-F])(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{40}|[0-9a-fA-F]{32})(?![0-9a-fA-F])")
_MAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"\b(?:https?|ftp)://([^\s/:?#\"'<>]+)[^\s\"'<>]*", re.IGNORECASE)
_DEFANGED = re.compile(r"\b[\w-]+(?:(?:\.|\[\.\])[\w-]+)*\[\.\][\w-]+(?:(?:\.|\[\.\])[\w-]+)*")  # a.b[.]c whole


@dataclass(frozen=True, slots=True)
class Observable:
    type: str
    value: str
    field: str | None = None


def _typed(kind: str, raw: str) -> Observable | None:
    try:
        return Observable(kind, NORMALIZERS[kind](raw))
    except InvalidInput:
        return None


def _from_hint(kind: str, raw: str) -> Iterator[Observable]:
    value = refang(raw.strip())
    if value.casefold() in NULLISH:
        return
    if kind == "ip_or_host":
        found = _typed("ip", value) or _typed("hostname", value)
    elif kind == "url":
        yield from _from_url(value)
        return
    else:
        found = _typed(kind, value)
    if found is not None:
        yield found


def _from_patterns(text: str) -> Iterator[Observable]:
    text = refang(text)
    for pattern, kind in ((_IPV4, "ip"), (_IPV6, "ip"), (_HASH, "hash"), (_MAIL, "mail")):
        for match in pattern.finditer(text):
            if (found := _typed(kind, match.group(0))) is not None:
                yield found
    yield from _from_url(text)


def _from_url(text: str) -> Iterator[Observable]:
    """Each URL in ``text`` (refanged) as a ``url`` observable, and its host as an ``ip`` or ``domain`` one."""
    for match in _URL.finditer(text):
        if (url := _typed("url", match.group(0).rstrip(".,;)]}"))) is not None:
            yield url
        host = match.group(1)
        if (found := _typed("ip", host) or _typed("domain", host)) is not None:
            yield found


def _walk(data: Any, field: str | None = None) -> Iterator[tuple[str | None, str]]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from _walk(value, str(key))
    elif isinstance(data, list):
        for value in data:
            yield from _walk(value, field)
    elif isinstance(data, str | int | float) and not isinstance(data, bool):
        yield field, str(data)


def alert_body(alert: Mapping[str, Any]) -> Mapping[str, Any]:
    """The part of an alert that describes the event: a Splunk webhook's ``result``, else the whole alert."""
    result = alert.get("result")
    if isinstance(result, Mapping) and ("sid" in alert or "search_name" in alert):
        return result
    return {k: v for k, v in alert.items() if k not in SPLUNK_META}


def extract(alert: Mapping[str, Any], hints: Mapping[str, str] = DEFAULT_HINTS) -> list[Observable]:
    """Observables of a raw alert, de-duplicated by (type, normalized value), in first-seen order."""
    seen: dict[tuple[str, str], Observable] = {}
    defanged_domains = []
    for field, text in _walk(alert_body(alert)):
        hint = hints.get((field or "").lower())
        if field in TIME_FIELDS:
            continue
        candidates = list(_from_hint(hint, text)) if hint else []
        candidates += _from_patterns(text)
        defanged_domains += [m.group(0) for m in _DEFANGED.finditer(text)]
        for obs in candidates:
            seen.setdefault((obs.type, obs.value), Observable(obs.type, obs.value, field))
    for raw in defanged_domains:
        if (found := _typed("domain", refang(raw))) is not None:
            seen.setdefault((found.type, found.value), found)
    return _drop_mail_duplicates(list(seen.values()))


def _drop_mail_duplicates(found: list[Observable]) -> list[Observable]:
    """A user name hint that is an e-mail address is the same observable as the mail pattern match."""
    mails = {o.value for o in found if o.type == "mail"}
    return [o for o in found if not (o.type == "username" and o.value in mails)]


def typed(observables: list[Mapping[str, str]]) -> list[Observable]:
    """Caller-typed observables, normalized; a bad one is an InvalidInput naming its index."""
    out: dict[tuple[str, str], Observable] = {}
    for i, entry in enumerate(observables):
        kind = entry.get("type", "")
        if kind not in NORMALIZERS:
            raise InvalidInput(f"observables.{i}.type: expected one of {', '.join(NORMALIZERS)}; got {kind!r}")
        try:
            value = NORMALIZERS[kind](refang(entry.get("value", "")))
        except InvalidInput as exc:
            raise InvalidInput(f"observables.{i}.value: {exc.message}") from None
        out.setdefault((kind, value), Observable(kind, value))
    return list(out.values())


def alert_time(alert: Mapping[str, Any], field: str | None = None) -> datetime | None:
    """The alert's own time: ``_time`` (epoch seconds or ISO 8601) in its body or at the top, or ``field``."""
    body = alert_body(alert)
    for name in ((field,) if field else ()) + TIME_FIELDS:
        for source in (body, alert):
            if name in source and (when := _parse_time(source[name])) is not None:
                return when
    return None


def _parse_time(raw: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(raw), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
