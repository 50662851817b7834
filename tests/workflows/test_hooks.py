"""Webhook tokens: a Splunk webhook body, exactly as Splunk's webhook alert action sends it, POSTed to
/v1/hooks/<token>/enrich is enriched as the webhook's principal, through the guard; the token does nothing else,
can be revoked by a reload, and never appears in a log line, an audit line, an error or /metrics."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from positron.broker import Broker
from positron.config import load_settings, parse_settings
from positron.errors import ConfigError
from positron.security.auth import hash_key
from positron.security.webhooks import create_hook, hide_token
from tests.security.support import api_keys, auth, demo_providers, serving
from tests.support.apps import registry
from tests.support.servers import POSITRON, positron_server

# The body Splunk's webhook alert action POSTs (docs: "Use a webhook alert action", webhook data payload): the
# first result row, the search id, a link to the results, the search's name, owner and app. Field values are strings.
SPLUNK_BODY: dict[str, Any] = {
    "result": {
        "_time": "1795176000",  # epoch seconds, as Splunk renders _time in a result row: 2026-11-20T12:00:00Z
        "sourcetype": "crowdstrike:events",
        "src_ip": "10.20.0.42",
        "user": "CORP\\jdoe",
        "md5": "44d88612fea8a8f36de82e1278abb02f",
        "count": "1",
    },
    "sid": "scheduler__admin__search__RMD5e2c0b1a2f3_at_1795176000_42",
    "results_link": "http://splunk.corp.example:8000/app/search/@go?sid=scheduler__admin__search__RMD5e2c0b1a2f3_at_1795176000_42",
    "search_name": "Malware on endpoint",
    "owner": "admin",
    "app": "search",
}


def hook_entry(name: str = "splunk-malware", groups: tuple[str, ...] = ("soc-analysts",), **extra: Any) -> Any:
    new = create_hook(name, "splunk", groups)
    return new.token, {**new.entry, **extra}


def broker(*hooks: dict[str, Any], **extra: Any) -> Broker:
    config = {"api_keys": api_keys(), "providers": demo_providers(), "webhooks": list(hooks), **extra}
    return Broker(parse_settings(config, registry()), registry())


def url(token: str) -> str:
    return f"/v1/hooks/{token}/enrich"


async def test_a_splunk_webhook_body_is_enriched_with_the_hooks_rights(capsys: pytest.CaptureFixture[str]) -> None:
    token, entry = hook_entry()
    async with serving(broker(entry, security={"audit": {"destination": "stdout"}})) as c:
        r = await c.post(url(token), content=json.dumps(SPLUNK_BODY), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["webhook"] == "splunk-malware" and body["delivery"] is None
    assert body["title"] == "Malware on endpoint" and body["at"] == "2026-11-20T12:00:00+00:00"
    by_type = {o["type"]: o for o in body["observables"]}
    assert by_type["ip"]["results"]["IP_TO_HOSTNAME"]["answer"]["value"] == "laptop-7"  # the host at alert time
    assert by_type["hash"]["results"]["HASH_REPUTATION"]["answer"]["value"]["verdict"] == "malicious"
    # soc-analysts may not run USER_* (acl/policy.csv): the user is found, but nothing is asked about them
    assert by_type["username"]["results"] == {}
    assert "laptop-7" in body["markdown"] and "MALICIOUS" in body["markdown"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    queries = [line for line in lines if line["event"] == "query"]
    assert queries and all(q["principal"] == "splunk" and q["groups"] == ["soc-analysts"] for q in queries)
    (hook_line,) = [line for line in lines if line["event"] == "webhook"]
    assert hook_line["webhook"] == "splunk-malware" and hook_line["status"] == 200
    assert token not in json.dumps(lines)


async def test_a_token_only_enriches_and_only_in_the_path() -> None:
    token, entry = hook_entry(groups=("admins",))  # even an admin's webhook is only a webhook
    bearer = {"Authorization": f"Bearer {token}"}
    async with serving(broker(entry)) as c:
        as_key = [
            await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.20.0.42"}, headers=bearer),
            await c.post("/v1/enrich", json=SPLUNK_BODY, headers=bearer),
            await c.post("/v1/admin/reload", headers=bearer),
            await c.get("/v1/providers", headers=bearer),
        ]
        other_route = await c.post(f"/v1/hooks/{token}/batch", json={"items": []})
        key_in_path = await c.post(url(auth("root")["Authorization"].removeprefix("Bearer ")), json=SPLUNK_BODY)
        with_key_header = await c.post(url("pwh_nope"), json=SPLUNK_BODY, headers=auth("root"))
    assert [r.status_code for r in as_key] == [401, 401, 401, 401]
    assert other_route.status_code == 404
    for refused in (key_in_path, with_key_header):
        assert refused.status_code == 401 and refused.json()["error"]["message"] == "invalid webhook token"


@pytest.mark.parametrize(
    "token",
    ["", "pwh_", "pwh_" + "x" * 43, "pos_" + "x" * 43, "pwh_" + "x" * 300, "%2e%2e", "pwh_a%2Fb"],
    ids=["empty", "prefix-only", "unknown", "api-key-shape", "too-long", "dots", "encoded-slash"],
)
async def test_unknown_tokens_are_refused_alike(token: str) -> None:
    _, entry = hook_entry()
    async with serving(broker(entry)) as c:
        r = await c.post(f"/v1/hooks/{token}/enrich", json=SPLUNK_BODY)
    assert r.status_code in (401, 404)
    if r.status_code == 401:
        assert r.json() == {"error": {"code": "unauthenticated", "message": "invalid webhook token"}}


async def test_an_expired_token_is_refused() -> None:
    token, entry = hook_entry(expires=(datetime.now(UTC) - timedelta(minutes=1)).isoformat())
    async with serving(broker(entry)) as c:
        r = await c.post(url(token), json=SPLUNK_BODY)
    assert r.status_code == 401


async def test_a_hook_limited_to_some_queries_asks_only_those() -> None:
    token, entry = hook_entry(groups=("admins",), queries=["ip_to_hostname"], tlp="green")
    async with serving(broker(entry)) as c:
        r = await c.post(url(token), json=SPLUNK_BODY)
    asked = {name for o in r.json()["observables"] for name in o["results"]}
    assert r.status_code == 200 and asked == {"IP_TO_HOSTNAME"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"result": {"src_ip": "10.20.0.42"},', "the body is not JSON (Expecting property name"),
        (b"[1, 2]", "expected a JSON object"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"{}", "expected 'observables'"),
    ],
)
async def test_a_bad_body_says_what_to_send(content: bytes, message: str) -> None:
    token, entry = hook_entry()
    async with serving(broker(entry)) as c:
        r = await c.post(url(token), content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and message in r.json()["error"]["message"]
    assert token not in r.text


def test_webhooks_config_errors_name_the_key() -> None:
    _, entry = hook_entry()
    with pytest.raises(ConfigError) as twice:
        broker(entry, entry)
    assert twice.value.key == "webhooks.1.name"
    with pytest.raises(ConfigError) as bad:
        broker({**entry, "token_hash": "md5:abc"})
    assert bad.value.key == "webhooks.0.token_hash"
    callback = {"url": "ftp://tickets.corp.example/hook?token=s3cr3t-in-url", "secret": "a-long-hmac-secret-1234"}
    with pytest.raises(ConfigError) as no_http:
        broker({**entry, "callback": callback})
    assert no_http.value.key == "webhooks.0.callback" and "s3cr3t" not in str(no_http.value)
    with pytest.raises(ConfigError) as no_secret:
        broker({**entry, "callback": {"url": "https://tickets.corp.example/hook"}})
    assert "secret: needed for auth 'hmac'" in no_secret.value.message


def test_hide_token_takes_the_token_out_of_hook_paths_only() -> None:
    assert hide_token("/v1/hooks/pwh_abc/enrich") == ("/v1/hooks/redacted/enrich", "pwh_abc")
    assert hide_token("/v1/hooks/pwh_abc") == ("/v1/hooks/redacted", "pwh_abc")
    assert hide_token("/v1/enrich") == ("/v1/enrich", None)
    assert hide_token("/v1/hooksx/pwh_abc/enrich") == ("/v1/hooksx/pwh_abc/enrich", None)


async def test_revoking_is_deleting_the_entry_and_reloading(tmp_path: Path) -> None:
    kept_token, kept = hook_entry("kept")
    gone_token, gone = hook_entry("gone")
    config = tmp_path / "positron.yaml"
    data = {"api_keys": api_keys(), "providers": demo_providers(), "webhooks": [kept, gone]}
    data["security"] = {"audit": {"destination": None}}
    config.write_text(yaml.safe_dump(data))
    b = Broker(load_settings(config, registry()), registry())
    async with serving(b) as c:
        before = (await c.post(url(gone_token), json=SPLUNK_BODY)).status_code
        config.write_text(yaml.safe_dump({**data, "webhooks": [kept]}))
        reloaded = await c.post("/v1/admin/reload", headers=auth("root"))
        after = (await c.post(url(gone_token), json=SPLUNK_BODY)).status_code
        still = (await c.post(url(kept_token), json=SPLUNK_BODY)).status_code
    assert (before, after, still) == (200, 401, 200)
    assert reloaded.json()["webhooks"] == 1


def test_hooks_create_prints_a_url_that_a_real_server_accepts_and_never_logs(tmp_path: Path) -> None:
    """The CLI's output, pasted as told, against `positron serve`: the Splunk body is enriched; the token (a
    canary) is in no access log line, no audit line, no error, no metric."""
    printed = subprocess.run(
        [str(POSITRON), "hooks", "create", "--name", "splunk-malware", "--principal", "splunk",
         "--groups", "soc-analysts", "--url", "http://127.0.0.1:1"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    hook_url = re.search(r"^http://127\.0\.0\.1:1(/v1/hooks/\S+/enrich)$", printed, re.M)
    assert hook_url is not None, printed
    token = hook_url[1].split("/")[3]
    entry_yaml = printed.split("reload (kill -HUP or POST /v1/admin/reload):\n", 1)[1]
    (entry,) = yaml.safe_load(entry_yaml)
    assert entry["token_hash"] == hash_key(token) and token not in entry_yaml
    config = tmp_path / "positron.yaml"
    config.write_text(yaml.safe_dump({"api_keys": api_keys(), "providers": demo_providers(), "webhooks": [entry]}))
    with positron_server("--config", str(config), env={"POSITRON_CONFIG": ""}) as (base, proc):
        ok = httpx.post(base + hook_url[1], json=SPLUNK_BODY, timeout=30)
        broken = httpx.post(base + hook_url[1], content=b"{not json", timeout=30)
        wrong = httpx.post(f"{base}/v1/hooks/{token}x/enrich", json=SPLUNK_BODY, timeout=30)
        metrics = httpx.get(f"{base}/metrics", timeout=30).text
    assert (ok.status_code, broken.status_code, wrong.status_code) == (200, 422, 401)
    assert "laptop-7" in ok.json()["markdown"]
    logged = proc.captured_stdout + proc.captured_stderr  # type: ignore[attr-defined]
    assert '"POST /v1/hooks/redacted/enrich HTTP/1.1" 200' in logged  # the access log line, without the token
    assert '"event": "webhook"' in logged
    for text in (logged, metrics, ok.text, broken.text, wrong.text):
        assert token not in text and token[4:20] not in text


def test_hooks_create_refuses_a_bad_name() -> None:
    proc = subprocess.run(
        [str(POSITRON), "hooks", "create", "--name", "no spaces", "--principal", "x"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "letters, digits" in proc.stderr
