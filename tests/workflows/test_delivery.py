"""Callback delivery of a webhook's Markdown to a local receiver: signed (HMAC) or with a bearer secret, retried only
when worth it and within bounds, audited either way, logged on failure without the URL or the secret, and sent
after the webhook has answered (a slow receiver never holds Splunk's request)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from positron.security.audit import AuditLog
from positron.security.webhooks import CallbackConfig, create_hook
from positron.workflows import delivery
from tests.security.support import api_keys, demo_providers, serving
from tests.support.apps import registry
from tests.support.receiver import Receiver
from tests.support.servers import free_port, positron_server
from tests.workflows.test_hooks import SPLUNK_BODY, broker, url

SECRET = "callback-hmac-secret-0123456789"
URL_TOKEN = "urltoken-canary-5f1c9e"  # chat/ticket hook URLs carry tokens: the URL is a secret too
DOC = {"webhook": "w", "title": "t", "at": None, "markdown": "### hello"}


def callback(receiver_url: str, **extra: Any) -> dict[str, Any]:
    return {"url": f"{receiver_url}?token={URL_TOKEN}", "secret": SECRET, "backoff_s": 0, **extra}


def verify(secret: str, header: str, body: bytes) -> bool:
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


async def test_the_markdown_reaches_the_receiver_signed(capsys: pytest.CaptureFixture[str]) -> None:
    new = create_hook("splunk-malware", "splunk", ["soc-analysts"])
    async with Receiver() as receiver:
        entry = {**new.entry, "callback": callback(receiver.url)}
        async with serving(broker(entry, security={"audit": {"destination": "stdout"}})) as c:
            r = await c.post(url(new.token), json=SPLUNK_BODY, headers={"X-Request-ID": "req-77"})
            await receiver.arrived.wait()
    assert r.status_code == 200 and r.json()["delivery"] == "queued"
    (got,) = receiver.requests
    doc = json.loads(got.body)
    assert doc == {
        "webhook": "splunk-malware",
        "title": "Malware on endpoint",
        "sid": SPLUNK_BODY["sid"],
        "results_link": SPLUNK_BODY["results_link"],
        "at": "2026-11-20T12:00:00+00:00",
        "markdown": r.json()["markdown"],
    }
    assert got.headers["Content-Type"] == "application/json" and got.headers["X-Positron-Webhook"] == "splunk-malware"
    assert got.headers["X-Request-ID"] == "req-77" and "Authorization" not in got.headers
    assert verify(SECRET, got.headers["X-Positron-Signature"], got.body)
    assert not verify("another-secret", got.headers["X-Positron-Signature"], got.body)
    audit = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"event": "delivery"' in line]
    assert audit[0] | {"time": None} == {
        "time": None, "event": "delivery", "request_id": "req-77", "webhook": "splunk-malware",
        "status": "delivered", "attempts": 1, "http_status": 200,
    }  # fmt: skip


async def test_bearer_and_markdown_format() -> None:
    async with Receiver() as receiver:
        config = CallbackConfig.model_validate(callback(receiver.url, auth="bearer", format="markdown"))
        outcome = await delivery.send(config, "w", DOC, "r1")
    (got,) = receiver.requests
    assert outcome == delivery.Delivery(True, 1, 200, None)
    assert got.body == b"### hello" and got.headers["Content-Type"].startswith("text/markdown")
    assert got.headers["Authorization"] == f"Bearer {SECRET}" and "X-Positron-Signature" not in got.headers


@pytest.mark.parametrize(
    ("statuses", "attempts", "expected"),
    [
        ([503, 429], 3, delivery.Delivery(True, 3, 200, None)),  # worth retrying, then it worked
        ([502, 503, 504], 3, delivery.Delivery(False, 3, 504, "HTTP 504")),  # never more than `attempts`
        ([400], 3, delivery.Delivery(False, 1, 400, "HTTP 400")),  # a refusal is final
        ([301], 3, delivery.Delivery(False, 1, 301, "HTTP 301")),  # redirects are not followed
    ],
)
async def test_retries_are_limited_to_what_is_worth_retrying(
    statuses: list[int], attempts: int, expected: delivery.Delivery
) -> None:
    async with Receiver(statuses=statuses) as receiver:
        config = CallbackConfig.model_validate(callback(receiver.url, attempts=attempts))
        outcome = await delivery.send(config, "w", DOC)
    assert outcome == expected and len(receiver.requests) == expected.attempts


async def test_a_receiver_that_never_answers_costs_attempts_times_timeout() -> None:
    async with Receiver(hold=True) as receiver:
        config = CallbackConfig.model_validate(callback(receiver.url, attempts=2, timeout_s=0.2))
        outcome = await delivery.send(config, "w", DOC)
    assert outcome == delivery.Delivery(False, 2, None, "no answer within 0.2 s")
    assert len(receiver.requests) == 2


async def test_a_failure_is_audited_and_logged_without_the_url_or_secret(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    audit = AuditLog(str(tmp_path / "audit.jsonl"))
    config = CallbackConfig.model_validate(callback(f"http://127.0.0.1:{free_port()}/hook", attempts=2))
    with caplog.at_level(logging.DEBUG):
        outcome = await delivery.deliver(config, "tickets", DOC, audit, "r9")
    audit.stop()
    assert not outcome.delivered and outcome.attempts == 2 and outcome.error == "ClientConnectorError"
    line = json.loads((tmp_path / "audit.jsonl").read_text())
    assert (line["event"], line["webhook"], line["status"], line["attempts"]) == ("delivery", "tickets", "failed", 2)
    assert "webhook tickets: callback delivery failed after 2 attempt(s): ClientConnectorError" in caplog.text
    for text in (caplog.text, json.dumps(line)):
        assert URL_TOKEN not in text and SECRET not in text and "127.0.0.1" not in text


async def test_a_slow_receiver_never_holds_the_webhooks_answer(tmp_path: Path) -> None:
    """Against `positron serve`: the receiver holds the callback until the test has the webhook's answer."""
    new = create_hook("splunk-malware", "splunk", ["soc-analysts"])
    async with Receiver(hold=True) as receiver:
        entry = {**new.entry, "callback": callback(receiver.url, timeout_s=30, attempts=1)}
        config = tmp_path / "positron.yaml"
        config.write_text(yaml.safe_dump({"api_keys": api_keys(), "providers": demo_providers(), "webhooks": [entry]}))
        server = positron_server("--config", str(config), env={"POSITRON_CONFIG": ""})
        base, proc = server.__enter__()
        try:
            async with httpx.AsyncClient(timeout=20) as client:  # far below the callback's 30 s
                answer = await client.post(base + url(new.token), json=SPLUNK_BODY)
            await receiver.arrived.wait()
            assert receiver.requests and answer.status_code == 200 and answer.json()["delivery"] == "queued"
            receiver.release()
        finally:  # stopping (SIGINT, then waiting) in a thread: the receiver shares this event loop and must answer
            await asyncio.to_thread(server.__exit__, None, None, None)
    audit = [json.loads(line) for line in proc.captured_stdout.splitlines() if '"event": "delivery"' in line]
    assert [a["status"] for a in audit] == ["delivered"]  # the server finished the delivery before stopping
    assert json.loads(receiver.requests[0].body)["markdown"] == answer.json()["markdown"]


def test_callback_secrets_are_redacted_from_logs_by_type() -> None:
    from positron.config import parse_settings
    from positron.security.redact import secret_values

    entry = {**create_hook("w", "p").entry, "callback": callback("https://tickets.corp.example/hook")}
    settings = parse_settings({"webhooks": [entry]}, registry())
    values = secret_values(settings)
    assert SECRET in values and any(URL_TOKEN in v for v in values)
