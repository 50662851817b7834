"""Secrets never leave the server. Every provider type is configured (those with credentials with unique canary
secrets: virustotal, pagerduty, splunk password and token, ldap bind password, fleet API token, crowdstrike and
entra_id client secrets, elasticsearch API key and password, misp, abuseipdb, greynoise, a blocklist feed's Auth-Key
header, an http_json header; static_inventory, dhcp_leases and dns have no secret fields), several of them failing
(wrong credentials, nothing listening), plus the API keys and the audit HMAC key. A full run of requests, valid and
invalid, allowed and denied, is made in process (with every log record at DEBUG captured, third-party loggers and
ldap3's EXTENDED protocol log with its own hiding off) and against a real uvicorn server logging at DEBUG to stderr.
Every response body and header, every log line, the audit log, the OpenAPI spec and config errors are scanned: no
canary, in clear, URL-encoded or base64, anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from ldap3.utils.log import EXTENDED, OFF, set_library_log_detail_level, set_library_log_hide_sensitive_data

from positron.api.app import create_app
from positron.broker import Broker
from positron.config import Settings, parse_settings
from positron.demo import DATA
from positron.errors import ConfigError
from tests.emulators.abuseipdb import AbuseIpdbEmulator
from tests.emulators.crowdstrike import FalconEmulator
from tests.emulators.elasticsearch import ElasticsearchEmulator
from tests.emulators.feeds import FeedServer, spamhaus_drop
from tests.emulators.fleet import FleetEmulator
from tests.emulators.graph import GraphEmulator
from tests.emulators.greynoise import GreyNoiseEmulator
from tests.emulators.misp import MispEmulator
from tests.emulators.pagerduty import PagerDutyEmulator
from tests.emulators.splunk import SplunkEmulator
from tests.emulators.virustotal import VirusTotalEmulator
from tests.support import slapd as slapd_support
from tests.support.apps import registry
from tests.support.servers import free_port

SECRET_NAMES = (
    "vt",
    "vt_wrong",
    "vt_dead",
    "pd",
    "pd_dead",
    "splunk",
    "splunk_wrong",
    "splunk_token",
    "splunk_dead",
    "ldap",
    "ldap_dead",
    "fleet",
    "fleet_wrong",
    "falcon",
    "falcon_wrong",
    "entra",
    "entra_wrong",
    "es_key",
    "es_password",
    "es_wrong",
    "redis",
    "misp",
    "abuseipdb",
    "feed",
    "hj",
    "greynoise",
    "audit",
    "key_root",
    "key_alice",
)
SPL = {"IP_TO_HOSTNAME": {"spl": "index=dhcp ip={value} | table _time hostname", "field": "hostname"}}
ES_SEARCHES = {"IP_TO_USER": {"index": "logs-*", "match": ["source.ip"], "field": "user.name"}}
TEAMS = {"security": {"escalation_policy_ids": ["PSEC"]}}
QUERIES: list[tuple[str, Any]] = [
    ("IP_TO_HOSTNAME", {"value": "10.20.0.42"}),
    ("IP_TO_HOSTNAME", {"value": "10.20.0.42", "no_cache": True}),
    ("HOSTNAME_TO_IP", {"value": "ws-042.corp.example"}),
    ("IP_TO_MAC", {"value": "10.20.0.42"}),
    ("USER_INFO", {"value": "CORP\\jdoe"}),
    ("USER_MANAGER", {"value": "jdoe@corp.example"}),
    ("USER_GROUPS", {"value": "jdoe"}),
    ("HASH_REPUTATION", {"value": "44d88612fea8a8f36de82e1278abb02f"}),
    ("IP_REPUTATION", {"value": "8.8.8.8"}),
    ("IP_REPUTATION", {"value": "10.1.2.3"}),
    ("DOMAIN_REPUTATION", {"value": "example.com", "tlp": "red"}),
    ("DOMAIN_REPUTATION", {"value": "example.com"}),
    ("TEAM_ONCALL", {"value": "security"}),
    ("IP_TO_USER", {"value": "10.20.0.42"}),
    ("HOST_USER", {"value": "ws-042.corp.example"}),
    ("HOST_INFO", {"value": "ws-042"}),
    ("IP_TO_HOSTNAME", {"value": "10.1.2"}),  # invalid inputs from here on
    ("ip_to_hostname/", {"value": "not-an-ip", "providers": ["ghost"]}),
    ("HASH_REPUTATION", {"value": "123"}),
    ("IP_REPUTATION", {"value": "8.8.8.8", "at": "2026-01-01T00:00:00Z"}),
    ("USER_INFO", {"value": "x" * 600}),
    ("NOPE", {"value": "x"}),
    ("IP_TO_HOSTNAME", b"{not json"),
    ("IP_TO_HOSTNAME", {"value": ["list"], "extra": True}),
]
GETS = ["/health", "/ready", "/v1/queries", "/v1/queries/user_info", "/v1/providers", "/v1/admin/providers"]


def make_canaries() -> dict[str, str]:
    return {name: f"canary-{name.replace('_', '-')}-{secrets.token_hex(8)}" for name in SECRET_NAMES}


def forms(canaries: dict[str, str]) -> dict[str, str]:
    """Each canary as it could appear: in clear, and base64 (standard and URL-safe, unpadded)."""
    found = {}
    for name, value in canaries.items():
        found[value] = name
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            found[encode(value.encode()).decode().rstrip("=")] = f"{name} (base64)"
    return found


def leaks(text: str, canaries: dict[str, str]) -> list[str]:
    return sorted({name for form, name in forms(canaries).items() if form in text})


def dead_url(scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{free_port()}"


def config(up: dict[str, Any], canary: dict[str, str], ref: Any) -> dict[str, Any]:
    """The whole configuration; ``ref(name)`` is how a secret is written (inline, or an {env: ...} reference)."""
    dead_port = free_port()
    splunk = {"type": "splunk", "host": "127.0.0.1", "scheme": "http", "timeout_s": 1.0, "searches": SPL}
    vt = {"type": "virustotal", "rate_limits": [], "timeout_s": 1.0}
    entra = {"type": "entra_id", "tenant_id": "corp.example", "client_id": "positron", "timeout_s": 1.0}
    entra |= {"authority_url": up.get("entra") or dead_url(), "graph_url": up.get("entra") or dead_url()}
    es = {"type": "elasticsearch", "url": up.get("es") or dead_url(), "timeout_s": 1.0, "searches": ES_SEARCHES}
    falcon = {"type": "crowdstrike", "client_id": "positron", "base_url": up.get("falcon"), "timeout_s": 1.0}
    providers: dict[str, Any] = {
        "inventory": {"type": "static_inventory", "hosts": str(DATA / "hosts.csv"), "users": str(DATA / "users.csv")},
        "dhcp": {"type": "dhcp_leases", "files": [{"path": str(DATA / "dhcpd.leases"), "format": "isc"}]},
        "dns": {"type": "dns", "nameservers": ["127.0.0.1"], "port": dead_port, "timeout_s": 0.2, "attempts": 1},
        "vt": {**vt, "api_key": ref("vt"), "base_url": up["vt"]},
        "vt_wrong": {**vt, "api_key": ref("vt_wrong"), "base_url": up["vt"]},
        "vt_dead": {**vt, "api_key": ref("vt_dead"), "base_url": dead_url()},
        "pd": {"type": "pagerduty", "api_key": ref("pd"), "base_url": up["pd"], "teams": TEAMS, "timeout_s": 1.0},
        "pd_dead": {"type": "pagerduty", "api_key": ref("pd_dead"), "base_url": dead_url(), "teams": TEAMS},
        "splunk": {**splunk, "port": up["splunk"], "username": "admin", "password": ref("splunk")},
        "splunk_wrong": {**splunk, "port": up["splunk"], "username": "admin", "password": ref("splunk_wrong")},
        "splunk_token": {**splunk, "port": up["splunk"], "token": ref("splunk_token")},
        "splunk_dead": {**splunk, "port": free_port(), "username": "admin", "password": ref("splunk_dead")},
        "fleet": {"type": "fleet", "base_url": up["fleet"], "api_token": ref("fleet"), "timeout_s": 1.0},
        "fleet_wrong": {"type": "fleet", "base_url": up["fleet"], "api_token": ref("fleet_wrong"), "timeout_s": 1.0},
        "falcon": {**falcon, "client_secret": ref("falcon")},
        "falcon_wrong": {**falcon, "client_secret": ref("falcon_wrong")},
        "entra": {**entra, "client_secret": ref("entra")},
        "entra_wrong": {**entra, "client_secret": ref("entra_wrong")},
        "es_key": {**es, "api_key": ref("es_key")},
        "es_basic": {**es, "username": "positron", "password": ref("es_password")},
        "es_wrong": {**es, "api_key": ref("es_wrong")},
        "ldap_dead": _ldap(f"ldap://127.0.0.1:{free_port()}", "cn=svc,dc=corp,dc=example", ref("ldap_dead")),
        "misp": {"type": "misp", "api_key": ref("misp"), "base_url": up["misp"], "timeout_s": 1.0},
        "abuseipdb": {"type": "abuseipdb", "api_key": ref("abuseipdb"), "base_url": up["abuseipdb"], "rate_limits": []},
        "blocklist": {
            "type": "blocklist",
            "feeds": [{"name": "drop", "url": up["feed"], "headers": {"Auth-Key": ref("feed")}}],
        },
        "greynoise": {
            "type": "greynoise",
            "plan": "enterprise",
            "api_key": ref("greynoise"),
            "base_url": up["greynoise"],
        },
        "hj": {  # a wrong key for the VirusTotal emulator: every call fails with 401
            "type": "http_json",
            "base_url": up["vt"],
            "auth": {"type": "header", "name": "x-apikey", "value": ref("hj")},
            "requests": {"IP_REPUTATION": {"path": "/api/v3/ip_addresses/{value}", "answer": {"verdict": "'unknown'"}}},
        },
    }
    if up.get("ldap"):
        providers["ldap"] = _ldap(up["ldap"], slapd_support.BIND_DN, ref("ldap"))  # a wrong password
    data: dict[str, Any] = {
        "api_keys": [
            {"principal": "root", "key": ref("key_root"), "groups": ["admins"]},
            {"principal": "alice", "key": ref("key_alice"), "groups": ["soc-analysts"]},
        ],
        "engine": {"deadline_s": 5, "retries": 1, "retry_backoff_s": 0.01},
        "security": {"audit": {"destination": up["audit"], "hash_key": ref("audit")}},
        "providers": providers,
    }
    if "redis" in Settings.model_fields:  # issue 5's shared state: a password in the URL, nothing listening
        data["redis"] = {"url": ref("redis", f"redis://:{{}}@127.0.0.1:{free_port()}/0")}
    return data


def _ldap(url: str, bind_user: str, password: Any) -> dict[str, Any]:
    return {
        "type": "ldap",
        "servers": [url],
        "bind_user": bind_user,
        "bind_password": password,
        "base_dn": "dc=corp,dc=example",
        "user_attribute": "uid",
        "tls": "none",
        "timeout_s": 1.0,
    }


@contextmanager
def ldap3_protocol_log() -> Iterator[None]:
    """ldap3's most detailed log, with its own hiding of passwords off: our redaction must do it."""
    set_library_log_hide_sensitive_data(False)
    set_library_log_detail_level(EXTENDED)
    try:
        yield
    finally:
        set_library_log_detail_level(OFF)
        set_library_log_hide_sensitive_data(True)


@asynccontextmanager
async def upstreams(tmp_path: Path, canary: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
    splunk = SplunkEmulator(password=canary["splunk"], tokens={canary["splunk_token"]})
    splunk.start()
    pd = PagerDutyEmulator(api_key=canary["pd"])
    fleet = FleetEmulator(canary["fleet"])
    falcon = FalconEmulator("positron", canary["falcon"])
    entra = GraphEmulator("corp.example", "positron", canary["entra"])
    entra.add_user("jdoe@corp.example", sam="jdoe", manager=entra.add_user("asmith@corp.example", sam="asmith"))
    es = ElasticsearchEmulator(api_key=canary["es_key"], user=("positron", canary["es_password"]))
    es.add("logs-win", **{"@timestamp": datetime.now(UTC).isoformat(), "source.ip": "10.20.0.42", "user.name": "jdoe"})
    falcon.add_device("WS-042", local_ip="10.20.0.42", last_login_user="CORP\\jdoe")
    fleet.add_host("ws-042.corp.example", primary_ip="10.20.0.42", emails=("jdoe@corp.example",))
    try:
        async with (
            VirusTotalEmulator(canary["vt"]) as vt,
            fleet,
            falcon,
            entra,
            es,
            MispEmulator(canary["misp"]) as misp,
            AbuseIpdbEmulator(canary["abuseipdb"]) as abuse,
            FeedServer(required_header=("Auth-Key", canary["feed"])) as feeds,
            GreyNoiseEmulator(canary["greynoise"]) as greynoise,
        ):
            await pd.start()
            try:
                up: dict[str, Any] = {"vt": vt.base_url, "pd": pd.base_url, "splunk": splunk.port}
                up |= {"fleet": fleet.base_url, "falcon": falcon.base_url, "entra": entra.base_url}
                up["es"] = es.base_url
                up |= {"misp": misp.base_url, "abuseipdb": abuse.base_url, "greynoise": greynoise.base_url}
                up["feed"] = feeds.publish("/drop.txt", spamhaus_drop(["1.10.16.0/20"]))
                if slapd_support.available():
                    (tmp_path / "slapd").mkdir()
                    with slapd_support.running_slapd(tmp_path / "slapd") as server:
                        yield up | {"ldap": server.url}
                else:
                    yield up
            finally:
                await pd.stop()
    finally:
        splunk.stop()


async def exercise(http: httpx.AsyncClient, canary: dict[str, str]) -> list[httpx.Response]:
    """The full run: every query as an admin, each twice (the second from the cache), as a principal the policy
    refuses, with a wrong key and none; the listing, provider and admin routes; the spec and the docs."""
    root = {"Authorization": f"Bearer {canary['key_root']}"}
    alice = {"Authorization": f"Bearer {canary['key_alice']}"}
    wrong = {"Authorization": f"Bearer {canary['key_root']}x"}
    responses = []
    for headers in (root, root, alice, wrong, {}):
        for name, body in QUERIES:
            if isinstance(body, bytes):
                r = await http.post(f"/v1/queries/{name}", content=body, headers=headers)
            else:
                r = await http.post(f"/v1/queries/{name}", json=body, headers=headers)
            responses.append(r)
        for path in GETS:
            responses.append(await http.get(path, headers=headers))
    responses.append(await http.post("/v1/admin/reload", headers=root))
    responses += [await http.get("/openapi.json"), await http.get("/docs")]
    return responses


def scan_responses(responses: list[httpx.Response], canary: dict[str, str]) -> list[str]:
    found = []
    for r in responses:
        text = r.text + "\n" + "\n".join(f"{k}: {v}" for k, v in r.headers.items())
        found += [f"{r.request.method} {r.request.url.path} ({r.status_code}): {leak}" for leak in leaks(text, canary)]
    return found


EXPECTED_STATUSES = [
    ("vt", "ok"),
    ("vt", "skipped"),  # 10.1.2.3 is internal; TLP:RED is above its max_tlp
    ("vt_wrong", "error"),
    ("vt_dead", "error"),
    ("pd", "no_data"),
    ("pd_dead", "error"),
    ("splunk", "no_data"),
    ("splunk_wrong", "error"),
    ("splunk_dead", "error"),
    ("ldap_dead", "error"),
    ("inventory", "ok"),
    ("dhcp", "ok"),
    ("fleet", "ok"),
    ("fleet_wrong", "error"),
    ("falcon", "ok"),
    ("falcon_wrong", "error"),
    ("entra", "ok"),
    ("entra_wrong", "error"),
    ("es_key", "ok"),
    ("es_basic", "ok"),
    ("es_wrong", "error"),
    ("misp", "no_data"),
    ("abuseipdb", "no_data"),
    ("blocklist", "no_data"),
    ("hj", "error"),
    ("greynoise", "no_data"),
]


def assert_exercised(responses: list[httpx.Response]) -> None:
    """The run reached what it means to: answers, provider failures of every kind, 4xx of every kind."""
    assert {200, 401, 403, 404, 413, 422} >= {r.status_code for r in responses} >= {200, 401, 403, 404, 422}
    seen = {
        (p["name"], p["status"])
        for r in responses
        if r.request.method == "POST" and r.url.path.startswith("/v1/queries/") and r.status_code == 200
        for p in r.json()["providers"]
    }
    expected_statuses = EXPECTED_STATUSES + ([("ldap", "error")] if slapd_support.available() else [])
    missing = [expected for expected in expected_statuses if expected not in seen]
    assert missing == [], sorted(seen)
    assert ("dns", "error") in seen or ("dns", "timeout") in seen


async def test_no_canary_in_any_response_log_line_or_audit_line_in_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    canary = make_canaries()
    audit = tmp_path / "audit.jsonl"
    caplog.set_level(logging.DEBUG)
    async with upstreams(tmp_path, canary) as up:
        settings = parse_settings(config({**up, "audit": str(audit)}, canary, _inline(canary)), registry())
        b = Broker(settings, registry())
        app = create_app(b)
        with ldap3_protocol_log():
            await b.start()
            try:
                transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
                async with httpx.AsyncClient(transport=transport, base_url="http://positron") as http:
                    responses = await exercise(http, canary)
            finally:
                await b.close()
    assert_exercised(responses)
    records = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.stack_info or ''} {caplog.handler.format(r)}" for r in caplog.records
    )
    assert len(caplog.records) > 50 and any(r.name.startswith("ldap3") for r in caplog.records)
    assert scan_responses(responses, canary) == []
    assert leaks(records, canary) == []
    assert leaks(caplog.text, canary) == []
    assert leaks(audit.read_text(), canary) == [] and audit.read_text().count("\n") > 100
    assert leaks(str(app.openapi()), canary) == []
    assert leaks(f"{settings!r} {settings.model_dump_json()}", canary) == []


def test_a_config_error_never_shows_a_secret() -> None:
    canary = make_canaries()
    up = {"vt": "http://127.0.0.1:1", "pd": "http://127.0.0.1:1", "splunk": 1, "audit": None}
    up |= {"fleet": "http://127.0.0.1:1", "falcon": "http://127.0.0.1:1"}
    up |= dict.fromkeys(("misp", "abuseipdb", "greynoise"), "http://127.0.0.1:1") | {"feed": "http://127.0.0.1:1/x"}
    bad = config(up, canary, _inline(canary))
    bad["providers"]["vt"]["malicious_threshold"] = "many"
    bad["providers"]["pd"]["teams"] = "nope"
    bad["providers"]["splunk"]["password"] = [canary["splunk"]]  # wrong type: the error must not echo it
    bad["providers"]["fleet"]["base_url"] = f"https://u:{canary['fleet']}@fleet.example"  # a secret in a URL
    bad["providers"]["falcon"]["member_cid"] = canary["falcon"]  # a secret in the wrong field is not echoed
    bad["providers"]["entra"]["tenant_id"] = canary["entra"] + "/.."  # a secret in the wrong field, not echoed
    bad["providers"]["es_basic"]["api_key"] = canary["es_key"]  # both auth forms: refused, not echoed
    bad["providers"]["misp"]["tlp_ceiling"] = "pink"
    bad["providers"]["abuseipdb"]["max_age_days"] = 0
    bad["providers"]["blocklist"]["feeds"][0]["headers"]["Auth-Key"] = [canary["feed"]]
    bad["providers"]["hj"]["requests"]["IP_REPUTATION"]["answer"]["verdict"] = "a.["
    bad["providers"]["greynoise"]["plan"] = "gold"
    wrong = ("vt", "pd", "splunk", "fleet", "falcon", "entra", "es_basic")
    for key in (*wrong, "misp", "abuseipdb", "blocklist", "hj", "greynoise"):
        only = {**bad, "providers": {key: bad["providers"][key]}}
        with pytest.raises(ConfigError) as caught:
            parse_settings(only, registry())
        assert caught.value.message.startswith(f"providers.{key}")
        assert leaks(f"{caught.value} {caught.value!r}", canary) == []


def _inline(canary: dict[str, str]) -> Any:
    def ref(name: str, template: str = "{}") -> str:
        return template.format(canary[name])

    return ref


def _env(canary: dict[str, str], env: dict[str, str]) -> Any:
    def ref(name: str, template: str = "{}") -> dict[str, str]:
        var = f"CANARY_{name.upper()}"
        env[var] = template.format(canary[name])
        return {"env": var}

    return ref


SERVE_AT_DEBUG = (
    "import logging, sys\n"
    "from ldap3.utils.log import EXTENDED, set_library_log_detail_level, set_library_log_hide_sensitive_data\n"
    "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)\n"
    "set_library_log_hide_sensitive_data(False)\n"
    "set_library_log_detail_level(EXTENDED)\n"
    "from positron.cli import main\n"
    "main()\n"
)


async def test_no_canary_in_what_a_real_server_sends_or_prints_at_debug(tmp_path: Path) -> None:
    canary = make_canaries()
    audit = tmp_path / "audit.jsonl"
    async with upstreams(tmp_path, canary) as up:
        env: dict[str, str] = {}
        path = tmp_path / "positron.yaml"
        path.write_text(yaml.safe_dump(config({**up, "audit": str(audit)}, canary, _env(canary, env))))
        assert leaks(path.read_text(), canary) == []  # the config file holds references only
        port = free_port()
        out, err = (tmp_path / "stdout.log").open("wb"), (tmp_path / "stderr.log").open("wb")
        command = [sys.executable, "-c", SERVE_AT_DEBUG, "serve", "--config", str(path), "--port", str(port)]
        proc = subprocess.Popen(command, stdout=out, stderr=err, env={**os.environ, **env}, cwd=tmp_path)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
                await _wait_ready(http, proc)
                responses = await exercise(http, canary)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            out.close()
            err.close()
    assert_exercised(responses)
    stderr = (tmp_path / "stderr.log").read_text()
    stdout = (tmp_path / "stdout.log").read_text()
    assert "DEBUG" in stderr and "ldap3" in stderr and '"GET /v1/providers HTTP/1.1" 401' in stdout + stderr
    assert scan_responses(responses, canary) == []
    assert leaks(stderr, canary) == [] and leaks(stdout, canary) == []
    assert leaks(audit.read_text(), canary) == []


async def _wait_ready(http: httpx.AsyncClient, proc: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if (await http.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError("the server did not start")
