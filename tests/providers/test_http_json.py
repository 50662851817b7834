"""The declarative http_json provider: the proof (VirusTotal IP_REPUTATION and PagerDuty TEAM_ONCALL as pure config
against their emulators answer exactly as the coded providers do), every supported query against a small JSON
server, value encoding, the four kinds of credentials, status mapping, and config errors that name the key."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from positron.providers.http_json import SUPPORTED, HttpJson
from positron.providers.pagerduty import PagerDuty
from positron.providers.virustotal import VirusTotal
from positron.queries import (
    CATALOG,
    DOMAIN_REPUTATION,
    HASH_REPUTATION,
    HOST_INFO,
    HOST_USER,
    HOSTNAME_TO_IP,
    IP_REPUTATION,
    IP_TO_HOSTNAME,
    IP_TO_MAC,
    IP_TO_USER,
    TEAM_ONCALL,
    URL_REPUTATION,
    USER_GROUPS,
    USER_INFO,
    USER_MANAGER,
    Verdict,
)

from positron.config import parse_settings
from positron.errors import ConfigError, ProviderAuthError, ProviderRateLimited, ProviderUnavailable
from positron.provider import Provider
from positron.query import Answer, Lookup
from tests.emulators.pagerduty import PagerDutyEmulator
from tests.emulators.virustotal import VirusTotalEmulator
from tests.support.apps import registry

VT_KEY = "vt-http-json-key-0123456789"
PD_KEY = "pd-http-json-key-abcdef"

# VirusTotal IP_REPUTATION, as the coded provider reads it (providers/virustotal.py to_answer)
STATS = "data.attributes.last_analysis_stats"
TOTAL = f"sum({STATS}.[malicious, suspicious, harmless, undetected])"
VT_IP = {
    "path": "/api/v3/ip_addresses/{value}",
    "answer": {
        "verdict": f"({STATS}.malicious >= `3` && 'malicious') || (({STATS}.malicious > `0` || {STATS}.suspicious"
        f" > `0`) && 'suspicious') || ({TOTAL} > `0` && 'harmless') || 'unknown'",
        "malicious": f"{STATS}.malicious",
        "suspicious": f"{STATS}.suspicious",
        "harmless": f"{STATS}.harmless",
        "undetected": f"{STATS}.undetected",
        "total": TOTAL,
        "label": "data.attributes.popular_threat_classification.suggested_threat_label"
        " || data.attributes.meaningful_name",
        "link": "join('', ['https://www.virustotal.com/gui/ip-address/', data.id])",
    },
    "observed_at": "data.attributes.last_analysis_date",
    "confidence": {"path": TOTAL, "divide_by": 20, "min": 0.3, "max": 1.0},
    "source_ref": "join('', ['https://www.virustotal.com/gui/ip-address/', data.id])",
}
# PagerDuty TEAM_ONCALL, as the coded provider reads it (providers/pagerduty.py)
PD_ONCALL = {
    "path": "/oncalls",
    "query": {
        "escalation_policy_ids[]": "{policy}",
        "include[]": "users",
        "time_zone": "UTC",
        "limit": "100",
        "offset": "0",
    },
    "lookup_table": {"security": {"policy": "PSEC"}, "platform ops": {"policy": "POPS"}},
    "items": "oncalls",
    "answer": {
        "user": "user.summary || user.name",
        "email": "user.email",
        "escalation_level": "escalation_level",
        "start": "start",
        "end": "end",
    },
    "observed_at": "request_time",
    "confidence": {"path": "escalation_level", "table": {1: 1.0, 2: 0.9, 3: 0.8, 4: 0.7, 5: 0.6}, "default": 0.5},
    "source_ref": "user.html_url || escalation_policy.html_url",
}


@asynccontextmanager
async def opened(provider: Provider[Any]) -> AsyncIterator[Provider[Any]]:
    await provider.open()
    try:
        yield provider
    finally:
        await provider.aclose()


def http_json(name: str = "hj", **config: Any) -> HttpJson:
    return HttpJson(name, HttpJson.Config.model_validate({"type": "http_json", **config}))


def comparable(answers: list[Answer[Any]], *, now_tolerant: bool = False) -> list[tuple[Any, ...]]:
    rows = []
    for a in answers:
        observed = None if now_tolerant else a.observed_at
        rows.append((a.value, a.confidence, observed, a.source_ref))
    return sorted(rows, key=repr)


# --- the proof ---


async def test_virustotal_ip_reputation_as_config_answers_like_the_coded_provider():
    async with VirusTotalEmulator(VT_KEY) as vt:
        label = {"suggested_threat_label": "trojan.emotet/heodo"}
        vt.add_ip(
            "9.9.9.9", stats={"malicious": 12, "harmless": 50, "undetected": 10}, popular_threat_classification=label
        )
        vt.add_ip("1.1.1.1", stats={"suspicious": 1, "harmless": 70}, meaningful_name="resolver")
        vt.add_ip("8.8.8.8", stats={"harmless": 5, "undetected": 3})
        vt.add_ip("2001:4860:4860::8888", stats={"malicious": 2, "harmless": 80})
        coded = VirusTotal(
            "vt",
            VirusTotal.Config.model_validate(
                {"type": "virustotal", "api_key": VT_KEY, "base_url": vt.base_url, "rate_limits": []}
            ),
        )
        declared = http_json(
            base_url=vt.base_url,
            auth={"type": "header", "name": "x-apikey", "value": VT_KEY},
            requests={"IP_REPUTATION": VT_IP},
        )
        async with opened(coded), opened(declared):
            for ip in ("9.9.9.9", "1.1.1.1", "8.8.8.8", "2001:4860:4860::8888", "8.8.4.4"):
                lookup = Lookup(IP_REPUTATION, IP_REPUTATION.normalize(ip))
                expected, got = await coded.ask(lookup), await declared.ask(lookup)
                assert comparable(got) == comparable(expected), ip
                assert len(got) == 1
        verdicts = {r.path for r in vt.requests}
    assert len(verdicts) == 5 and {r.headers["x-apikey"] for r in vt.requests} == {VT_KEY}


async def test_pagerduty_team_oncall_as_config_answers_like_the_coded_provider():
    now = datetime.now(UTC).replace(microsecond=0)
    pd = PagerDutyEmulator(api_key=PD_KEY)
    pd.add_oncall(
        user="Ada Lovelace",
        email="ada@corp.example",
        escalation_policy_id="PSEC",
        start=now - timedelta(hours=2),
        end=now + timedelta(hours=6),
    )
    pd.add_oncall(user="Grace Hopper", email="grace@corp.example", escalation_policy_id="PSEC", escalation_level=2)
    pd.add_oncall(
        user="Alan Turing",
        email="alan@corp.example",
        escalation_policy_id="PSEC",
        escalation_level=3,
        start=now - timedelta(days=1),
        end=now + timedelta(days=6),
    )
    pd.add_oncall(user="Linus T", email="linus@corp.example", escalation_policy_id="POPS")
    base = await pd.start()
    try:
        coded = PagerDuty(
            "pd",
            PagerDuty.Config.model_validate(
                {
                    "type": "pagerduty",
                    "api_key": PD_KEY,
                    "base_url": base,
                    "teams": {
                        "security": {"escalation_policy_ids": ["PSEC"]},
                        "platform ops": {"escalation_policy_ids": ["POPS"]},
                    },
                }
            ),
        )
        declared = http_json(
            base_url=base,
            headers={"Accept": "application/vnd.pagerduty+json;version=2"},
            auth={"type": "header", "name": "Authorization", "prefix": "Token token=", "value": PD_KEY},
            requests={"TEAM_ONCALL": PD_ONCALL},
        )
        async with opened(coded), opened(declared):
            for team in ("security", "Platform  Ops", "nobody"):
                lookup = Lookup(TEAM_ONCALL, TEAM_ONCALL.normalize(team))
                expected, got = await coded.ask(lookup), await declared.ask(lookup)
                assert comparable(got, now_tolerant=True) == comparable(expected, now_tolerant=True), team
                assert all(abs((a.observed_at - now).total_seconds()) < 600 for a in got if a.observed_at)
            assert len(await declared.ask(Lookup(TEAM_ONCALL, "security"))) == 3
    finally:
        await pd.stop()


# --- a small JSON server for everything else ---


class JsonServer:
    """Answers each path with a canned (status, JSON, headers); records method, raw path, query, headers, body."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, Any, dict[str, str]]] = {}
        self.requests: list[dict[str, Any]] = []
        self.tokens: list[str] = []  # OAuth2 tokens issued, newest last
        self.client = ("positron", "s3cr3t/&=")
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> JsonServer:
        app = web.Application()
        app.router.add_post("/oauth/token", self._token)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def route(self, path: str, doc: Any, status: int = 200, **headers: str) -> None:
        self.routes[path] = (status, doc, headers)

    async def _token(self, request: web.Request) -> web.Response:
        """RFC 6749 §4.4: client credentials in HTTP Basic, grant_type in the form."""
        form = await request.post()
        user, password = self.client
        expected = "Basic " + base64.b64encode(f"positron:{'s3cr3t%2F%26%3D'}".encode()).decode()
        if request.headers.get("Authorization") != expected or form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "invalid_client"}, status=401)
        self.tokens.append(f"token-{len(self.tokens) + 1}")
        return web.json_response({"access_token": self.tokens[-1], "token_type": "Bearer", "expires_in": 3600})

    async def _serve(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            {
                "method": request.method,
                "raw_path": request.raw_path,
                "path": request.path,
                "query": list(request.query.items()),
                "headers": dict(request.headers),
                "body": json.loads(body) if body else None,
            }
        )
        if self.tokens and request.headers.get("Authorization", "").startswith("Bearer "):
            if request.headers["Authorization"] != f"Bearer {self.tokens[-1]}":
                return web.json_response({"error": "invalid_token"}, status=401)
        status, doc, headers = self.routes.get(request.path, (404, {"error": "not found"}, {}))
        return web.json_response(doc, status=status, headers=headers)


@pytest.fixture
async def server() -> AsyncIterator[JsonServer]:
    async with JsonServer() as s:
        yield s


async def ask(server: JsonServer, query: Any, raw: str, spec: dict[str, Any], **config: Any) -> list[Answer[Any]]:
    provider = http_json(base_url=server.base_url, requests={query.name: spec}, **config)
    async with opened(provider):
        return await provider.ask(Lookup(query, query.normalize(raw)))


@pytest.mark.parametrize(
    ("query", "raw", "doc", "answer", "expected"),
    [
        (
            IP_TO_HOSTNAME,
            "10.20.0.42",
            {"host": {"fqdn": "ws-042.corp.example"}},
            {"value": "host.fqdn"},
            "ws-042.corp.example",
        ),
        (HOSTNAME_TO_IP, "ws-042", {"addresses": ["10.20.0.42"]}, {"value": "addresses[0]"}, "10.20.0.42"),
        (IP_TO_MAC, "10.20.0.42", {"mac": "00:16:3e:12:34:56"}, {"value": "mac"}, "00:16:3e:12:34:56"),
        (
            USER_INFO,
            "jdoe",
            {"u": {"login": "jdoe", "name": "Jane Doe", "active": False}},
            {"username": "u.login", "display_name": "u.name", "enabled": "u.active"},
            None,
        ),
        (
            USER_MANAGER,
            "jdoe",
            {"manager": {"login": "asmith", "mail": "a@corp.example"}},
            {"username": "manager.login", "email": "manager.mail"},
            None,
        ),
        (
            USER_GROUPS,
            "jdoe",
            {"groups": [{"cn": "vpn"}, {"cn": "admins"}]},
            {"value": "groups[].cn"},
            ["vpn", "admins"],
        ),
        (
            HASH_REPUTATION,
            "44d88612fea8a8f36de82e1278abb02f",
            {"verdict": "malicious", "engines": 63},
            {"verdict": "verdict", "malicious": "engines", "total": "engines"},
            None,
        ),
        (HOST_USER, "ws-042", {"session": {"user": "jdoe"}}, {"value": "session.user"}, "jdoe"),
        (IP_TO_USER, "10.20.0.42", {"users": ["jdoe"]}, {"value": "users[0]"}, "jdoe"),
        (
            HOST_INFO,
            "ws-042",
            {"host": {"name": "ws-042.corp.example", "os": "Windows 11", "ids": ["fleet:42"]}},
            {"hostname": "host.name", "os": "host.os", "agent_ids": "host.ids"},
            None,
        ),
        (
            DOMAIN_REPUTATION,
            "evil.example",
            {"risk": "high"},
            {"verdict": "risk == 'high' && 'malicious' || 'unknown'"},
            None,
        ),
    ],
)
async def test_every_supported_query_maps_onto_its_answer(
    server: JsonServer, query: Any, raw: str, doc: Any, answer: dict[str, str], expected: Any
):
    server.route(f"/lookup/{query.normalize(raw)}", doc)
    (got,) = await ask(server, query, raw, {"path": "/lookup/{value}", "answer": answer})
    if expected is not None:
        assert got.value == expected
    else:
        assert isinstance(got.value, CATALOG[query.name].output)
    if query is USER_INFO:
        assert (got.value.display_name, got.value.enabled) == ("Jane Doe", False)
    if query is HOST_INFO:
        assert (got.value.hostname, got.value.agent_ids) == ("ws-042.corp.example", ("fleet:42",))
    if query is HASH_REPUTATION:
        assert got.value.verdict == Verdict.MALICIOUS and got.value.total == 63


def test_the_supported_list_is_the_whole_catalog_today():
    assert {q.name for q in SUPPORTED} == set(CATALOG)


# --- the value is never spliced raw ---


async def test_url_values_are_encoded_for_the_path_the_query_and_the_body(server: JsonServer):
    url = "https://evil.example/a%20b?x=1&y=/../admin"
    spec = {
        "method": "POST",
        "path": "/check/{value}",
        "query": {"url": "{value}"},
        "body": {"indicator": {"url": "{value}", "kind": "url"}},
        "answer": {"verdict": "v"},
    }
    normalized = URL_REPUTATION.normalize(url)
    server.route(f"/check/{normalized}", {"v": "suspicious"})
    (got,) = await ask(server, URL_REPUTATION, url, spec)
    sent = server.requests[-1]
    assert got.value.verdict == Verdict.SUSPICIOUS
    raw_path, _, raw_query = sent["raw_path"].partition("?")
    assert sent["path"] == f"/check/{normalized}"  # one path segment: "/" and "?" of the value stayed encoded
    assert raw_path.count("/") == 2 and "%2F..%2Fadmin" in raw_path and "%3F" in raw_path and "%2520" in raw_path
    assert raw_query.startswith("url=")
    assert sent["query"] == [("url", normalized)]
    assert sent["body"] == {"indicator": {"url": normalized, "kind": "url"}}


# --- credentials ---


@pytest.mark.parametrize(
    ("auth", "header", "expected"),
    [
        ({"type": "header", "name": "X-Api-Key", "value": "k-123"}, "X-Api-Key", "k-123"),
        ({"type": "bearer", "token": "t-456"}, "Authorization", "Bearer t-456"),
        (
            {"type": "basic", "username": "svc", "password": "p-789"},
            "Authorization",
            "Basic " + base64.b64encode(b"svc:p-789").decode(),
        ),
    ],
)
async def test_static_credentials(server: JsonServer, auth: dict[str, Any], header: str, expected: str):
    server.route("/ip/192.0.2.1", {"verdict": "harmless"})
    await ask(server, IP_REPUTATION, "192.0.2.1", {"path": "/ip/{value}", "answer": {"verdict": "verdict"}}, auth=auth)
    assert server.requests[-1]["headers"][header] == expected


async def test_oauth2_client_credentials_fetch_reuse_and_renew_after_a_401(server: JsonServer):
    server.route("/ip/192.0.2.1", {"verdict": "harmless"})
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": server.base_url + "/oauth/token",
        "client_id": "positron",
        "client_secret": "s3cr3t/&=",
        "scope": "read",
    }
    provider = http_json(
        base_url=server.base_url,
        auth=auth,
        requests={"IP_REPUTATION": {"path": "/ip/{value}", "answer": {"verdict": "verdict"}}},
    )
    async with opened(provider):
        lookup = Lookup(IP_REPUTATION, "192.0.2.1")
        await provider.ask(lookup)
        await provider.ask(lookup)
        assert server.tokens == ["token-1"]  # one token for both calls
        server.tokens.append("token-rotated")  # the server revokes token-1: the next call gets a 401, renews once
        (answer,) = await provider.ask(lookup)
    assert answer.value.verdict == Verdict.HARMLESS
    assert server.tokens[-1] == "token-3" and server.requests[-1]["headers"]["Authorization"] == "Bearer token-3"


async def test_refused_client_credentials_are_an_auth_error_without_the_secret(server: JsonServer):
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": server.base_url + "/oauth/token",
        "client_id": "positron",
        "client_secret": "wrong-secret-42",
    }
    provider = http_json(
        base_url=server.base_url,
        auth=auth,
        requests={"IP_REPUTATION": {"path": "/ip/{value}", "answer": {"verdict": "v"}}},
    )
    async with opened(provider):
        with pytest.raises(ProviderAuthError) as info:
            await provider.ask(Lookup(IP_REPUTATION, "192.0.2.1"))
        health = await provider.health()
    assert "client credentials were refused" in info.value.message and "wrong-secret-42" not in str(info.value)
    assert not health.ok


# --- statuses ---


async def test_status_mapping(server: JsonServer):
    spec = {"path": "/ip/{value}", "answer": {"verdict": "verdict"}, "status": {404: "no_data", 400: "no_data"}}
    assert await ask(server, IP_REPUTATION, "192.0.2.9", spec) == []  # 404
    server.route("/ip/192.0.2.8", {"error": "bad"}, status=400)
    assert await ask(server, IP_REPUTATION, "192.0.2.8", spec) == []
    server.route("/ip/192.0.2.7", {"error": "slow down"}, status=429, **{"Retry-After": "42"})
    with pytest.raises(ProviderRateLimited) as limited:
        await ask(server, IP_REPUTATION, "192.0.2.7", spec)
    assert limited.value.retry_after == 42
    server.route("/ip/192.0.2.6", {"error": "down"}, status=503)
    with pytest.raises(ProviderUnavailable):
        await ask(server, IP_REPUTATION, "192.0.2.6", spec)
    server.route("/ip/192.0.2.5", {"error": "who"}, status=401)
    with pytest.raises(ProviderAuthError):
        await ask(server, IP_REPUTATION, "192.0.2.5", spec)


async def test_a_lookup_table_miss_is_no_data_without_a_request(server: JsonServer):
    spec = {
        "path": "/teams/{team_id}",
        "lookup_table": {"soc": {"team_id": "T1"}},
        "items": "people",
        "answer": {"user": "name"},
    }
    server.route("/teams/T1", {"people": [{"name": "Ada"}, {"name": "Grace"}]})
    assert await ask(server, TEAM_ONCALL, "nobody", spec) == []
    assert server.requests == []
    answers = await ask(server, TEAM_ONCALL, "SOC", spec)
    assert [a.value.user for a in answers] == ["Ada", "Grace"]


# --- config errors name the key ---


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"path": "/x/{value}", "answer": {"verdict": "a.[b"}},
            "providers.hj.requests.IP_REPUTATION.answer.verdict: Value error, not a valid JMESPath expression",
        ),
        (
            {"path": "/x/{value}", "answer": {"verdikt": "v"}},
            "requests.IP_REPUTATION.answer.verdikt: the IP_REPUTATION answer has no such field",
        ),
        ({"path": "/x/{valeu}", "answer": {"verdict": "v"}}, "requests.IP_REPUTATION.path: unknown variable {valeu}"),
        (
            {"path": "/x/{value.__class__}", "answer": {"verdict": "v"}},
            "requests.IP_REPUTATION.path: template '/x/{value.__class__}': use plain {name} placeholders",
        ),
        ({"path": "x/{value}", "answer": {"verdict": "v"}}, "providers.hj.requests.IP_REPUTATION.path"),
        (
            {"path": "/x", "answer": {"verdict": "v"}, "observed_at": "to_number("},
            "providers.hj.requests.IP_REPUTATION.observed_at",
        ),
        (
            {"path": "/x", "query": {"q": "{secret}"}, "answer": {"verdict": "v"}},
            "requests.IP_REPUTATION.query.q: unknown variable {secret}",
        ),
    ],
)
def test_config_errors_name_the_key(spec: dict[str, Any], message: str):
    raw = {
        "type": "http_json",
        "base_url": "https://api.example.com",
        "auth": {"type": "bearer", "token": "tok-9"},
        "requests": {"IP_REPUTATION": spec},
    }
    with pytest.raises(ConfigError) as info:
        parse_settings({"providers": {"hj": raw}}, registry())
    assert message in info.value.message and "tok-9" not in info.value.message


def test_an_unknown_query_is_refused():
    raw = {
        "type": "http_json",
        "base_url": "https://api.example.com",
        "requests": {"IP_REPUTATON": {"path": "/x", "answer": {"value": "v"}}},
    }
    with pytest.raises(ConfigError, match="requests.IP_REPUTATON: unknown query"):
        parse_settings({"providers": {"hj": raw}}, registry())


def test_defaults_and_what_an_instance_serves():
    provider = http_json(
        base_url="https://api.example.com",
        requests={"IP_REPUTATION": VT_IP, "TEAM_ONCALL": PD_ONCALL},
        queries=["IP_REPUTATION"],
    )
    assert provider.config.egress == "external"
    assert provider.serves() == ["IP_REPUTATION"]
    assert http_json(base_url="https://a.example", requests={"TEAM_ONCALL": PD_ONCALL}).serves() == ["TEAM_ONCALL"]
