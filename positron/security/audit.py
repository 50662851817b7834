"""The audit log: one JSON object a line for every lookup (a single query, each batch item, each enrich query, each
CLI query), every admin action, and every other request that reaches the API.

    {"time": "2026-01-05T09:14:03.120Z", "request_id": "4bf9…", "client": "10.1.9.7", "event": "query",
     "principal": "alice",
     "groups": ["soc-analysts"], "query": "IP_TO_HOSTNAME", "value": "10.1.2.3", "decision": "allowed",
     "rule": "p, soc-analysts, IP_TO_*, run, allow", "status": 200,
     "providers": [{"name": "dhcp", "status": "ok", "cached": true}, {"name": "vt", "status": "skipped",
                   "reason": "denied"}],
     "cache_hits": 1, "took_ms": 2.4}

Events: ``query`` (a lookup), ``admin`` (reload, provider details), ``auth`` (a refused key) and ``request``
(any other request that wrote no line itself: a body that did not validate, /metrics, the provider list). Every
request to the API leaves at least one line (a single query exactly one; a batch one per distinct item), except
the liveness/readiness probes and the documentation (``UNAUDITED``). ``decision`` agrees with ``status``:
``allowed`` (authorized; the status may still be a 4xx for an invalid value), ``denied`` (403),
``unauthenticated`` (401), ``invalid`` (refused before any authorization: unknown query, malformed body) and
``error`` (5xx). ``client`` is the peer address, or the X-Forwarded-For client behind ``server.trusted_proxies``.

``value`` is the normalized input (the raw one, cut to 128 characters, when it did not validate); with
``security.audit.hash_values`` it is ``value_hash`` instead: ``hmac-sha256:<hex>`` keyed with
``security.audit.hash_key`` (a plain SHA-256 of an IPv4 address is reversed by trying all 2^32 of them).
Lines go to ``stdout`` or a file (appended; reopened when logrotate moves it) through a queue and a writer
thread, so a slow disk or an unread pipe never stalls a request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import logging.handlers
import queue
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from positron.security.acl import Decision
from positron.security.auth import Principal

STDOUT = "stdout"
RAW_VALUE_LIMIT = 128
UNAUDITED = ("/health", "/ready", "/docs", "/static/", "/openapi.json")


@dataclass(slots=True)
class AuditContext:
    """One request's audit state: where it came from, who it turned out to be, what a route decided about it, and
    how many lines it has written (the HTTP layer writes a ``request`` line for a request that wrote none)."""

    request_id: str = "-"
    client: str | None = None
    principal: Principal | None = None
    query: str | None = None  # the query a route authorized before validating the body
    decision: Decision | None = None
    lines: int = 0


@dataclass(slots=True)
class AuditRecord:
    """The one constructor of an audit line. ``value`` is given raw; the log decides how it is written."""

    event: str
    context: AuditContext
    status: int
    decision: str
    rule: str | None = None
    query: str | None = None
    action: str | None = None
    path: str | None = None
    error: str | None = None
    value: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # providers, cache_hits, took_ms

    def fields(self) -> dict[str, Any]:
        ctx = self.context
        record: dict[str, Any] = {"request_id": ctx.request_id, "client": ctx.client}
        if ctx.principal is not None:
            record.update(principal=ctx.principal.name, groups=ctx.principal.groups)
        named = {"query": self.query, "action": self.action, "path": self.path, "decision": self.decision}
        record.update({k: v for k, v in named.items() if v is not None})
        if self.rule is not None:
            record["rule"] = self.rule
        record["status"] = self.status
        if self.error is not None:
            record["error"] = self.error
        return {**record, **self.extra}


def decision_for(status: int) -> str:
    """The decision a status implies when no authorization was made (a ``request`` line)."""
    if status == 401:
        return "unauthenticated"
    if status == 403:
        return "denied"
    if status >= 500:
        return "error"
    return "allowed" if status < 400 else "invalid"


class _Stdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is at the time (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


class AuditLog:
    def __init__(
        self, destination: str | None = STDOUT, *, hash_values: bool = False, hash_key: SecretStr | None = None
    ) -> None:
        self.destination = destination
        self.hash_values = hash_values
        self._hash_key = hash_key.get_secret_value().encode() if hash_key is not None else b""
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._listener: logging.handlers.QueueListener | None = None
        self._logger = logging.Logger("positron.security.audit")  # standalone: never propagates to the app's handlers
        self._observers: list[Callable[[str, Mapping[str, Any]], None]] = []
        if destination is not None:
            self._logger.addHandler(logging.handlers.QueueHandler(self._queue))
            self._logger.setLevel(logging.INFO)

    def start(self) -> None:
        if self.destination is None or self._listener is not None:
            return
        handler: logging.Handler
        if self.destination == STDOUT:
            handler = _Stdout()
        else:
            Path(self.destination).parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.WatchedFileHandler(self.destination, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._listener = logging.handlers.QueueListener(self._queue, handler)
        self._listener.start()

    def stop(self) -> None:
        """Flush what is queued and stop the writer."""
        if self._listener is not None:
            self._listener.stop()
            for handler in self._listener.handlers:
                handler.close()
            self._listener = None

    def value_fields(self, value: str | None) -> dict[str, Any]:
        if value is None:
            return {}
        if not self.hash_values:
            return {"value": value[:RAW_VALUE_LIMIT] if len(value) > RAW_VALUE_LIMIT else value}
        if self._hash_key:
            return {"value_hash": "hmac-sha256:" + hmac.new(self._hash_key, _bytes(value), hashlib.sha256).hexdigest()}
        return {"value_hash": "sha256:" + hashlib.sha256(_bytes(value)).hexdigest()}

    def observe(self, observer: Callable[[str, Mapping[str, Any]], None]) -> None:
        """Call ``observer(event, record)`` for every record, written or not (metrics count denials this way)."""
        self._observers.append(observer)

    def write(self, record: AuditRecord) -> None:
        """A request's line (built by ``AuditRecord``, the one constructor); counted in its context."""
        record.context.lines += 1
        self.event(record.event, {**record.fields(), **self.value_fields(record.value)})

    def event(self, event: str, fields: dict[str, Any]) -> None:
        """A line that is no request's decision: a callback delivered after the answer (workflows.delivery)."""
        for observer in self._observers:
            observer(event, fields)
        if self.destination is None:
            return
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line = json.dumps({"time": now, "event": event, **fields}, default=str, separators=(", ", ": "))
        if self._listener is None:
            self.start()  # a broker that was never started (the CLI, some tests) still audits
        self._logger.info("%s", line)


def _bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")  # a lone surrogate in a hostile value must not fail the line
