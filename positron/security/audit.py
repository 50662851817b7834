"""The audit log: one JSON object a line for every query request, allowed or denied, and every admin action.

    {"time": "2026-01-05T09:14:03.120Z", "request_id": "4bf9…", "event": "query", "principal": "alice",
     "groups": ["soc-analysts"], "query": "IP_TO_HOSTNAME", "value": "10.1.2.3", "decision": "allowed",
     "rule": "p, soc-analysts, IP_TO_*, run, allow", "status": 200,
     "providers": [{"name": "dhcp", "status": "ok", "cached": true}, {"name": "vt", "status": "skipped",
                   "reason": "denied"}],
     "cache_hits": 1, "took_ms": 2.4}

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

STDOUT = "stdout"
RAW_VALUE_LIMIT = 128


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
            return {"value_hash": "hmac-sha256:" + hmac.new(self._hash_key, value.encode(), hashlib.sha256).hexdigest()}
        return {"value_hash": "sha256:" + hashlib.sha256(value.encode()).hexdigest()}

    def observe(self, observer: Callable[[str, Mapping[str, Any]], None]) -> None:
        """Call ``observer(event, record)`` for every record, written or not (metrics count denials this way)."""
        self._observers.append(observer)

    def write(self, event: str, record: dict[str, Any]) -> None:
        for observer in self._observers:
            observer(event, record)
        if self.destination is None:
            return
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line = json.dumps({"time": now, "event": event, **record}, default=str, separators=(", ", ": "))
        if self._listener is None:
            self.start()  # a broker that was never started (the CLI, some tests) still audits
        self._logger.info("%s", line)
