"""A Markdown summary of enrichment results, ready to paste as a ticket comment. Pure: JSON in, text out.

Input is what /v1/enrich returns per observable: ``{"type", "value", "results": {QUERY: response body | error}}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|])")
TITLES = {
    "username": "User",
    "mail": "User",
    "hash": "Hash",
    "ip": "IP",
    "domain": "Domain",
    "hostname": "Host",
    "url": "URL",
}


def esc(text: Any) -> str:
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _answer(results: Mapping[str, Any], query: str) -> tuple[Any, bool]:
    body = results.get(query)
    if not isinstance(body, Mapping) or not body.get("answer"):
        return None, False
    return body["answer"]["value"], bool(body.get("conflict"))


def _flag(conflict: bool) -> str:
    return " *(sources disagree)*" if conflict else ""


def _user_line(results: Mapping[str, Any]) -> str:
    info, c1 = _answer(results, "USER_INFO")
    manager, c2 = _answer(results, "USER_MANAGER")
    parts = []
    if info:
        facts = [info.get(k) for k in ("display_name", "title", "department", "location")]
        parts.append(", ".join(esc(f) for f in facts if f))
        if info.get("enabled") is False:
            parts.append("**account disabled**")
    if manager:
        who = manager.get("display_name") or manager.get("username")
        contact = f" ({esc(manager['email'])})" if manager.get("email") else ""
        parts.append(f"manager: {esc(who)}{contact}")
    return "; ".join(p for p in parts if p) + _flag(c1 or c2) if parts else "no directory data"


def _reputation_line(results: Mapping[str, Any], query: str) -> str | None:
    rep, conflict = _answer(results, query)
    if not rep:
        return None
    counts = f" ({rep['malicious']}/{rep['total']} detections)" if rep.get("total") else ""
    label = f", {esc(rep['label'])}" if rep.get("label") else ""
    link = f" — [details]({rep['link']})" if rep.get("link") else ""
    return f"**{esc(rep['verdict']).upper()}**{counts}{label}{link}{_flag(conflict)}"


def _ip_line(results: Mapping[str, Any], when: str) -> str:
    host, c1 = _answer(results, "IP_TO_HOSTNAME")
    mac, c2 = _answer(results, "IP_TO_MAC")
    user, c3 = _answer(results, "IP_TO_USER")
    parts = [f"host {when}: {esc(host)}" if host else f"no host known {when}"]
    if user:
        parts.append(f"user {esc(user)}")
    if mac:
        parts.append(f"MAC {esc(mac)}")
    line = ", ".join(parts) + _flag(c1 or c2 or c3)
    reputation = _reputation_line(results, "IP_REPUTATION")
    return f"{line}; reputation {reputation}" if reputation else line


def _host_line(results: Mapping[str, Any], when: str) -> str:
    ip, c1 = _answer(results, "HOSTNAME_TO_IP")
    user, c2 = _answer(results, "HOST_USER")
    info, c3 = _answer(results, "HOST_INFO")
    parts = [f"IP {when}: {esc(ip)}" if ip else f"no IP known {when}"]
    if user:
        parts.append(f"user {esc(user)}")
    if isinstance(info, Mapping):
        parts += [f"{name} {esc(info[name])}" for name in ("os", "owner", "site") if info.get(name)]
    line = ", ".join(parts) + _flag(c1 or c2 or c3)
    reputation = _reputation_line(results, "DOMAIN_REPUTATION")
    return f"{line}; reputation {reputation}" if reputation else line


def _line(entry: Mapping[str, Any], when: str) -> str:
    kind, results = entry["type"], entry.get("results", {})
    if kind in ("username", "mail"):
        text = _user_line(results)
    elif kind == "hash":
        text = _reputation_line(results, "HASH_REPUTATION") or "no reputation data"
    elif kind == "ip":
        text = _ip_line(results, when)
    elif kind == "url":
        text = _reputation_line(results, "URL_REPUTATION") or "no reputation data"
    else:
        text = _host_line(results, when)
    value = str(entry["value"]).replace("`", "%60")  # a URL may hold a backtick; it must not end the code span
    return f"- **{TITLES.get(kind, kind)} `{value}`** — {text}"


def _failures(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    failed: set[str] = set()
    for entry in entries:
        for body in entry.get("results", {}).values():
            if isinstance(body, Mapping):
                failed.update(
                    f"{p['name']} ({p['status']})"
                    for p in body.get("providers", [])
                    if p.get("status") in ("error", "timeout", "rate_limited")
                )
    return sorted(failed)


def markdown(entries: Sequence[Mapping[str, Any]], *, title: str | None = None, at: str | None = None) -> str:
    when = "at alert time" if at else "now"
    lines = [f"### Positron enrichment{' — ' + esc(title) if title else ''}"]
    if at:
        lines.append(f"Alert time: {at}")
    lines.append("")
    lines += [_line(entry, when) for entry in entries] or ["- no observables found"]
    if failed := _failures(entries):
        lines += ["", f"_Sources that did not answer: {esc(', '.join(failed))}_"]
    return "\n".join(lines) + "\n"
