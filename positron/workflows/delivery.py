"""Delivering a webhook's enrichment to a callback URL (a ticket system's comment hook, a chat channel).

Why in the background: Splunk's webhook action waits for the answer with a short timeout and does not retry, and a
slow ticket system must not make the alert look failed. So the webhook answers as soon as the enrichment is done
(``"delivery": "queued"``) and the callback is sent right after, in the same process (Starlette's background task:
a server shutting down finishes it first). Each delivery is bounded: ``attempts`` tries of at most ``timeout_s``
each, with ``backoff_s`` doubling between them (defaults: 3 × 5 s + 1 s + 2 s ≤ 18 s). Connection errors,
timeouts, 429 and 5xx are retried; any other answer is final. Every outcome is one audit line
(``event: delivery``) and a failure is also a log warning; neither ever holds the URL or the secret (the URL is a
secret: chat and ticket hook URLs carry tokens).

What the receiver gets (``format: json``, the default; ``markdown`` sends the text alone as ``text/markdown``)::

    POST <url>
    Content-Type: application/json
    X-Positron-Webhook: splunk-malware
    X-Request-ID: 4bf9…                                    (the webhook request's id, as in the audit log)
    X-Positron-Signature: t=1795176000,v1=<hex>            (auth: hmac)   or   Authorization: Bearer <secret>

    {"webhook": "splunk-malware", "title": "Malware on endpoint", "sid": "…", "results_link": "…",
     "at": "2026-11-20T12:00:00+00:00", "markdown": "### Positron enrichment — …"}

``v1`` is HMAC-SHA256 keyed with the secret over ``<t>.<body>``: a receiver recomputes it, compares in constant
time, and refuses a ``t`` older than a few minutes (a replayed request).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from positron.security.audit import AuditLog
from positron.security.webhooks import CallbackConfig

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Positron-Signature"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Delivery:
    delivered: bool
    attempts: int
    http_status: int | None
    error: str | None  # a safe reason: "HTTP 503", "timeout", "ClientConnectorError"


def document(hook: str, alert: Mapping[str, Any], enriched: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON a callback receives: which webhook, the alert's name, id and link, its time, the Markdown."""
    keep = {k: alert.get(k) for k in ("sid", "results_link") if isinstance(alert.get(k), str)}
    title, at = enriched.get("title"), enriched.get("at")
    return {"webhook": hook, "title": title, **keep, "at": at, "markdown": enriched.get("markdown", "")}


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _request(
    callback: CallbackConfig, hook: str, doc: Mapping[str, Any], request_id: str
) -> tuple[bytes, dict[str, str]]:
    if callback.format == "markdown":
        body, kind = str(doc.get("markdown", "")).encode(), "text/markdown; charset=utf-8"
    else:
        body, kind = json.dumps(doc).encode(), "application/json"
    headers = {"Content-Type": kind, "X-Positron-Webhook": hook, "X-Request-ID": request_id}
    secret = callback.secret.get_secret_value() if callback.secret is not None else ""
    if callback.auth == "hmac":
        headers[SIGNATURE_HEADER] = signature(secret, int(time.time()), body)
    elif callback.auth == "bearer":
        headers["Authorization"] = f"Bearer {secret}"
    return body, headers


async def _attempt(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> int:
    async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
        await response.read()
        return response.status


async def send(callback: CallbackConfig, hook: str, doc: Mapping[str, Any], request_id: str = "-") -> Delivery:
    """POST the document, retrying what is worth retrying; never raises, never takes longer than the bound."""
    body, headers = _request(callback, hook, doc, request_id)
    timeout = aiohttp.ClientTimeout(total=callback.timeout_s)
    status: int | None = None
    error: str | None = None
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for attempt in range(1, callback.attempts + 1):
            if attempt > 1:
                await asyncio.sleep(callback.backoff_s * 2 ** (attempt - 2))
            try:
                status = await _attempt(session, callback.url.get_secret_value(), body, headers)
            except TimeoutError:
                status, error = None, f"no answer within {callback.timeout_s:g} s"
                continue
            except aiohttp.ClientError as exc:  # the type only: a library's text may repeat the URL
                status, error = None, type(exc).__name__
                continue
            if 200 <= status < 300:
                return Delivery(True, attempt, status, None)
            error = f"HTTP {status}"
            if status not in RETRY_STATUSES:
                return Delivery(False, attempt, status, error)
    return Delivery(False, callback.attempts, status, error)


async def deliver(
    callback: CallbackConfig, hook: str, doc: Mapping[str, Any], audit: AuditLog, request_id: str = "-"
) -> Delivery:
    """Send, then write the audit line (and a warning when it failed)."""
    try:
        outcome = await send(callback, hook, doc, request_id)
    except Exception as exc:  # a bug here must not escape into the server's background task runner
        outcome = Delivery(False, 0, None, f"unexpected {type(exc).__name__}")
    record: dict[str, Any] = {"request_id": request_id, "webhook": hook}
    record["status"] = "delivered" if outcome.delivered else "failed"
    record.update(attempts=outcome.attempts, http_status=outcome.http_status)
    if outcome.error:
        record["error"] = outcome.error
    audit.event("delivery", record)
    if not outcome.delivered:
        why = f"{outcome.attempts} attempt(s): {outcome.error}"
        log.warning("webhook %s: callback delivery failed after %s (request %s)", hook, why, request_id)
    return outcome
