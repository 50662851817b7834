#!/usr/bin/env python3
"""Positron analyzer for Cortex: one program, one flavor per Positron query (``Positron_<QUERY>.json``, whose
``config.service`` names the query).

Cortex (cortexutils >= 2) runs it as ``positron_analyzer.py <job dir>``: the job is read from
``<job dir>/input/input.json`` and the report written to ``<job dir>/output/output.json``; without an input file it
reads the job from stdin and writes the report to stdout. The report's ``full`` is Positron's response;
``summary.taxonomies`` has one ``Positron:<QUERY>="<answer>"`` entry (level from the verdict for reputation);
``artifacts`` are the new observables the answers name. ``parameters.at`` (RFC 3339, or epoch milliseconds as
TheHive keeps dates) asks for a point in time, e.g. the alert's; the job's TLP is sent to Positron, which skips
providers that may not see it. Errors carry Positron's message, never the key (cortexutils also blanks it in the
echoed input).
"""

from __future__ import annotations

import json
import ssl
from datetime import UTC, datetime
from typing import Any

from cortexutils.analyzer import Analyzer
from positron_client import STANDARD_QUERIES, InvalidInput, Positron, PositronError

NAMESPACE = "Positron"
USER_TYPES = ("mail", "username", "other")
HOST_TYPES = ("domain", "fqdn", "hostname")
# The Cortex data types each query accepts (flavor files list the same in dataTypeList).
DATA_TYPES: dict[str, tuple[str, ...]] = {
    "IP_TO_HOSTNAME": ("ip",),
    "IP_TO_MAC": ("ip",),
    "IP_REPUTATION": ("ip",),
    "HASH_REPUTATION": ("hash",),
    "HOSTNAME_TO_IP": HOST_TYPES,
    "DOMAIN_REPUTATION": HOST_TYPES,
    "USER_INFO": USER_TYPES,
    "USER_MANAGER": USER_TYPES,
    "USER_GROUPS": USER_TYPES,
    "TEAM_ONCALL": ("other",),  # the team's name: Cortex has no data type for it
    "IP_TO_USER": ("ip",),
    "HOST_USER": HOST_TYPES,
    "HOST_INFO": HOST_TYPES,
}
REPUTATION = frozenset({"HASH_REPUTATION", "IP_REPUTATION", "DOMAIN_REPUTATION"})
LEVELS = {"malicious": "malicious", "suspicious": "suspicious", "harmless": "safe", "unknown": "info"}
TLP_NAMES = {0: "clear", 1: "green", 2: "amber", 3: "red"}  # Cortex's numbers → Positron's names
MAX_TEXT = 120


def alert_time(raw: Any) -> str | None:
    """``parameters.at``: RFC 3339 text is passed on (Positron validates it); a number is epoch milliseconds."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str) and not raw.strip().isdigit():
        return raw.strip()
    if isinstance(raw, int | float | str) and not isinstance(raw, bool):
        return datetime.fromtimestamp(int(raw) / 1000, UTC).isoformat()
    raise ValueError(f"parameters.at must be an RFC 3339 time or epoch milliseconds, got {raw!r}")


def describe(value: Any) -> str:
    """One answer value as taxonomy text."""
    if isinstance(value, dict) and "username" in value:
        name = value.get("display_name")
        text = f"{name} ({value['username']})" if name else str(value["username"])
    elif isinstance(value, dict) and "escalation_level" in value:  # TEAM_ONCALL
        text = f"{value.get('user')} (level {value['escalation_level']})"
    elif isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def verdict_text(value: dict[str, Any]) -> str:
    total = value.get("total") or 0
    return f"{value['verdict']} {value.get('malicious', 0)}/{total}" if total else str(value["verdict"])


def taxonomy_of(query: str, raw: dict[str, Any]) -> tuple[str, str]:
    """(level, value) for the summary."""
    answer = raw.get("answer")
    if answer is None:
        return "info", "no answer"
    value = answer["value"]
    if query in REPUTATION:
        level, text = LEVELS.get(value["verdict"], "info"), verdict_text(value)
    else:
        level, text = "info", describe(value)
    return level, f"{text} (conflict)" if raw.get("conflict") else text


def observables(query: str, raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(Cortex data type, value) for what the answers name: hosts, addresses, people's mail."""
    found: list[tuple[str, str]] = []
    for answer in raw.get("answers") or []:
        value = answer.get("value")
        if query == "IP_TO_HOSTNAME" and isinstance(value, str):
            found.append(("fqdn" if "." in value else "hostname", value))
        elif query == "HOSTNAME_TO_IP" and isinstance(value, str):
            found.append(("ip", value))
        elif query in ("USER_INFO", "USER_MANAGER", "TEAM_ONCALL") and isinstance(value, dict) and value.get("email"):
            found.append(("mail", str(value["email"])))
        elif query in ("IP_TO_USER", "HOST_USER") and isinstance(value, str):
            found.append(("username", value))
        elif query == "HOST_INFO" and isinstance(value, dict) and value.get("ip"):
            found.append(("ip", str(value["ip"])))
    return list(dict.fromkeys(found))


def tls_verify(verify_ssl: Any, ca_bundle: Any, cacerts: Any) -> bool | str | ssl.SSLContext:
    """How to check Positron's certificate: the flavor's ``ca_bundle`` (a PEM file on the Cortex host), else
    Cortex's own ``cacerts`` setting (PEM text), else the system CAs; ``verify_ssl: false`` turns checking off."""
    if verify_ssl is False or str(verify_ssl).lower() == "false":
        return False
    if isinstance(ca_bundle, str) and ca_bundle.strip():
        return ca_bundle.strip()
    if isinstance(cacerts, str) and cacerts.strip():
        return ssl.create_default_context(cadata=cacerts)
    return True


class PositronAnalyzer(Analyzer):  # type: ignore[misc]  # cortexutils is untyped
    def __init__(self) -> None:
        super().__init__()
        self.query: str = self.get_param("config.service", None, "Missing config.service: the Positron query")
        self.url: str = self.get_param("config.url", None, "Missing the Positron url in the analyzer's config")
        self.key: str = self.get_param("config.key", None, "Missing the Positron API key in the analyzer's config")
        self.timeout = float(self.get_param("config.timeout", 30))
        self.verify = tls_verify(
            self.get_param("config.verify_ssl", True),
            self.get_param("config.ca_bundle", None),
            self.get_param("config.cacerts", None),
        )

    def run(self) -> None:
        if self.query not in DATA_TYPES:
            self.error(f"config.service {self.query!r} is not a query this analyzer runs: {', '.join(DATA_TYPES)}")
        if self.data_type not in DATA_TYPES[self.query]:
            expected = ", ".join(DATA_TYPES[self.query])
            self.error(f"Positron_{self.query} takes {expected} observables, not {self.data_type}")
        try:
            at = alert_time(self.get_param("parameters.at")) if STANDARD_QUERIES[self.query].accepts_at else None
            raw = self.ask(self.get_data(), at)
        except (PositronError, ValueError) as exc:
            self.error(f"Positron: {exc}")
        self.report(raw)

    def ask(self, value: str, at: str | None) -> dict[str, Any]:
        tlp = TLP_NAMES.get(self.tlp)
        client = Positron(self.url, self.key, timeout=self.timeout, max_retries=2, backoff_s=0.5, verify=self.verify)
        with client as positron:
            try:
                return positron.query(self.query, value, at=at, tlp=tlp).raw
            except InvalidInput as exc:  # a Positron that predates request TLPs refuses the field: ask without
                if tlp is None or not any(d.get("field") == "tlp" for d in exc.details):
                    raise
            return positron.query(self.query, value, at=at).raw

    def summary(self, raw: dict[str, Any]) -> dict[str, Any]:
        level, value = taxonomy_of(self.query, raw)
        return {"taxonomies": [self.build_taxonomy(level, NAMESPACE, self.query, value)]}

    def artifacts(self, raw: dict[str, Any]) -> list[dict[str, Any]]:
        seen = str(self.get_data()).casefold()
        return [
            self.build_artifact(kind, value, tags=[f"positron:{self.query}"])
            for kind, value in observables(self.query, raw)
            if value.casefold() != seen
        ]


if __name__ == "__main__":
    PositronAnalyzer().run()
