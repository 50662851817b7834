"""Secrets never reach a log line: every configured ``SecretStr`` value is redacted from every log record.

``install(values)`` wraps the process's log-record factory once, so every record from every logger (ours, uvicorn's,
aiohttp's, ldap3's, splunklib's, at any level) passes through ``_redact`` before any handler or formatter sees it:
its message, arguments, exception text and stack text. Secrets are found by type (every ``SecretStr`` in the
settings), never by guessing key names; their URL-encoded and base64 forms are redacted too.
"""

from __future__ import annotations

import base64
import logging
import threading
import traceback
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from positron.security.secrets import secret_fields

MASK = "**********"
MIN_LENGTH = 6  # shorter values would mask ordinary words; placeholders and short keys are refused at load

_secrets: tuple[str, ...] = ()  # longest first, so a padded form goes before its unpadded prefix
_lock = threading.Lock()
_installed = False


def secret_values(settings: Any) -> set[str]:
    """Every SecretStr value inside a settings object, unwrapped."""
    return {secret.get_secret_value() for _, secret in secret_fields(settings)}


def _forms(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(secret.encode()).decode()
        forms |= {encoded, encoded.rstrip("=")}
    return {f for f in forms if len(f) >= MIN_LENGTH}


def install(values: Iterable[str]) -> None:
    """Redact these values (added to any installed before) from every log record from now on."""
    global _secrets, _installed
    with _lock:
        found = set(_secrets) | {form for v in values if len(v) >= MIN_LENGTH for form in _forms(v)}
        _secrets = tuple(sorted(found, key=len, reverse=True))
        if not _installed:
            logging.setLogRecordFactory(_factory(logging.getLogRecordFactory()))
            _installed = True


def scrub(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _factory(inner: Any) -> Any:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = inner(*args, **kwargs)
        if _secrets:
            _redact(record)
        return record

    return make


def _scrub_arg(value: Any) -> Any:
    return scrub(value) if isinstance(value, str) else value


def _redact(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: let logging report it as it always does
        return
    if any(s in message for s in _secrets):
        if isinstance(record.args, tuple):
            record.args = tuple(_scrub_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _scrub_arg(v) for k, v in record.args.items()}
        record.msg = scrub(record.msg) if isinstance(record.msg, str) else record.msg
        try:
            still = any(s in record.getMessage() for s in _secrets)
        except Exception:
            still = True
        if still:  # an argument whose str() holds the secret: keep only the redacted text
            record.msg, record.args = scrub(message), ()
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if any(s in text for s in _secrets):
            record.exc_text = scrub(text)
            record.exc_info = None  # formatters would print the raw traceback again from it
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
