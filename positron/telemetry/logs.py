"""The process log: one event a line on stderr, as text or JSON (``logging: {format, level}``).

Every logger goes through the root handler set up here: Positron's own, the libraries' and uvicorn's (its access
lines included), so one format covers them all. Each record made while a request is handled carries that
request's ``request_id`` and ``client`` address (a context variable set by the API's middleware); uvicorn's access
records also get ``method``, ``path`` and ``status`` as fields. The audit log is a separate stream (stdout or its
own file, ``security.audit``), never mixed into this one.

JSON lines come from python-json-logger's formatter (a stdlib ``logging.Formatter``, so the secret redaction of
``positron.security.redact``, which works on records, applies unchanged)::

    {"time": "2026-11-20T09:14:03.120Z", "level": "INFO", "logger": "uvicorn.access",
     "message": "127.0.0.1:50412 - \"POST /v1/queries/IP_TO_HOSTNAME HTTP/1.1\" 200",
     "request_id": "4bf92f3577b34da6", "client": "127.0.0.1", "method": "POST",
     "path": "/v1/queries/IP_TO_HOSTNAME", "status": 200}
"""

from __future__ import annotations

import logging
import logging.config
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

Format = Literal["text", "json"]
# (request id, client address) of the request being handled in this task, if any
REQUEST: ContextVar[tuple[str, str | None] | None] = ContextVar("positron_request", default=None)
_ACCESS_FIELDS = ("client_addr", "method", "path", "http_version", "status")


def _iso_time(record: logging.LogRecord) -> str:
    when = datetime.fromtimestamp(record.created, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RequestFields(logging.Filter):
    """Adds ``request_id`` and ``client`` (None outside a request), and the fields of uvicorn's access lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = REQUEST.get()
        request_id, client = current if current is not None else (None, None)
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            fields = dict(zip(_ACCESS_FIELDS, record.args, strict=True))
            record.method, record.path, record.status = fields["method"], fields["path"], fields["status"]
            client = client or str(fields["client_addr"]).rsplit(":", 1)[0]
        record.request_id, record.client = request_id, client
        return True


class TextFormatter(logging.Formatter):
    """``2026-11-20T09:14:03.120Z INFO    uvicorn.access: <message> [request_id=… client=…]``; a traceback stays
    on the lines after it (text is for people; use json for one event a line in every case)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (stdlib name)
        return _iso_time(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        if request_id is None:
            return line
        head, sep, rest = line.partition("\n")
        return f"{head} [request_id={request_id} client={getattr(record, 'client', None) or '-'}]{sep}{rest}"


class JsonLineFormatter(JsonFormatter):
    """python-json-logger's formatter with our field names and an ISO 8601 UTC time; a traceback becomes the
    ``exc_info`` string field of the same line."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (stdlib name)
        return _iso_time(record)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        for name in ("request_id", "client"):  # present on every line, null outside a request
            log_data.setdefault(name, getattr(record, name, None))
        for name in ("color_message",):  # uvicorn's ANSI copy of the message
            log_data.pop(name, None)


def logging_config(format: Format = "text", level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` mapping: one stderr handler on the root logger; uvicorn's loggers hand
    their records to it (their own handlers would write text, and the access log to stdout)."""
    formatter = JsonLineFormatter if format == "json" else TextFormatter
    uvicorn = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": RequestFields}},
        "formatters": {"line": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": sys.stderr,
                "formatter": "line",
                "filters": ["request"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {"uvicorn": uvicorn, "uvicorn.error": uvicorn, "uvicorn.access": uvicorn},
    }


def configure(format: Format = "text", level: str = "info") -> None:
    """Set up the process log (``positron serve`` and the CLI call this once, before anything logs)."""
    logging.config.dictConfig(logging_config(format, level))
