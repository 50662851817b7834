"""The PagerDuty provider against the REST API v2 emulator in tests/emulators/pagerduty.py."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import aiohttp
import pydantic
import pytest
import yaml
from positron.providers.pagerduty import PagerDuty, PagerDutyConfig
from positron.queries import TEAM_ONCALL

from positron.config import parse_settings
from positron.errors import (
    BadResponse,
    PositronError,
    ProviderAuthError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from positron.query import Lookup
from positron.registry import Registry
from tests.emulators.pagerduty import HTML_BASE, PagerDutyEmulator

API_KEY = "u+pdTESTkey-9f3c71aa"
TEAMS: dict[str, Any] = {
    "Security": {"escalation_policy_ids": ["PEPSEC"]},
    "  Platform   Ops ": {"escalation_policy_ids": ["PEPPLAT"], "schedule_ids": ["PSCHPLAT"]},
}
NOW = datetime.now(UTC).replace(microsecond=0)


def make(base_url: str, **overrides: Any) -> PagerDuty:
    raw = {"type": "pagerduty", "api_key": API_KEY, "base_url": base_url, "teams": TEAMS, **overrides}
    config = PagerDuty.Config.model_validate(raw)
    assert isinstance(config, PagerDutyConfig)
    return PagerDuty("pd_test", config)


@pytest.fixture
async def emu() -> AsyncIterator[PagerDutyEmulator]:
    emulator = PagerDutyEmulator(api_key=API_KEY)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def pd(emu: PagerDutyEmulator) -> AsyncIterator[PagerDuty]:
    provider = make(emu.base_url, timeout_s=2)
    await provider.open()
    yield provider
    await provider.aclose()


async def ask(provider: PagerDuty, team: str, at: datetime | None = None) -> list[Any]:
    return await provider.ask(Lookup(TEAM_ONCALL, TEAM_ONCALL.normalize(team), at))


def assert_safe(exc: PositronError) -> None:
    assert API_KEY not in exc.message and API_KEY not in str(exc) and API_KEY not in repr(exc)


# --- answers ---


async def test_who_is_on_call_now(emu: PagerDutyEmulator, pd: PagerDuty) -> None:
    jane = emu.add_oncall(
        user="Jane Doe",
        email="jane@acme.example",
        escalation_policy_id="PEPSEC",
        start=NOW - timedelta(hours=2),
        end=NOW + timedelta(hours=6),
    )
    emu.add_oncall(  # yesterday's shift on the same policy
        user="Old Shift",
        email="old@acme.example",
        escalation_policy_id="PEPSEC",
        start=NOW - timedelta(days=2),
        end=NOW - timedelta(days=1),
    )
    emu.add_oncall(user="Other Team", email="o@acme.example", escalation_policy_id="POTHER")
    before = datetime.now(UTC)

    answers = await ask(pd, "security")

    assert [a.value.user for a in answers] == ["Jane Doe"]
    answer = answers[0]
    assert answer.value.email == "jane@acme.example"
    assert answer.value.escalation_level == 1
    assert (answer.value.start, answer.value.end) == (jane.start, jane.end)
    assert answer.confidence == 1.0
    assert answer.source_ref == f"{HTML_BASE}/users/{jane.user_id}"
    assert before <= answer.observed_at <= datetime.now(UTC)
    [request] = emu.requests_to("/oncalls")
    assert request.values("escalation_policy_ids[]") == ["PEPSEC"]
    assert request.values("include[]") == ["users"]
    assert request.values("since") == request.values("until") == []  # PagerDuty's default: now
    assert request.values("offset") == ["0"] and request.values("limit") == ["100"]


async def test_on_call_at_a_past_time(emu: PagerDutyEmulator, pd: PagerDuty) -> None:
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    emu.add_oncall(
        user="Alice Early",
        email="a@acme.example",
        escalation_policy_id="PEPSEC",
        start=t0,
        end=t0 + timedelta(hours=8),
    )
    emu.add_oncall(
        user="Bob Late",
        email="b@acme.example",
        escalation_policy_id="PEPSEC",
        start=t0 + timedelta(hours=8),
        end=t0 + timedelta(hours=16),
    )
    at = t0 + timedelta(hours=3, microseconds=250_000)

    answers = await ask(pd, "security", at)

    assert [a.value.user for a in answers] == ["Alice Early"]
    assert answers[0].observed_at == at
    request = emu.requests_to("/oncalls")[-1]
    assert request.values("since") == ["2026-01-05T12:00:00Z"]
    assert request.values("until") == ["2026-01-05T12:00:01Z"]
    # Half a second before the hand-over PagerDuty returns both shifts (they overlap the 1 s window);
    # only the one that covers `at` is an answer.
    handover = t0 + timedelta(hours=8)
    just_before = await ask(pd, "security", handover - timedelta(milliseconds=500))
    assert [a.value.user for a in just_before] == ["Alice Early"]
    assert [a.value.user for a in await ask(pd, "security", handover)] == ["Bob Late"]


async def test_levels_rank_first_responder_first(emu: PagerDutyEmulator, pd: PagerDuty) -> None:
    for level, name in [(3, "Cara Third"), (2, "Ben Second"), (1, "Ann First")]:
        emu.add_oncall(
            user=name,
            email=f"{name.split()[0].lower()}@acme.example",
            escalation_policy_id="PEPSEC",
            escalation_level=level,
        )

    answers = await ask(pd, "security")

    assert [(a.value.escalation_level, a.value.user) for a in answers] == [
        (1, "Ann First"),
        (2, "Ben Second"),
        (3, "Cara Third"),
    ]
    assert [a.confidence for a in answers] == [1.0, 0.9, 0.8]
    assert all(a.value.start is None and a.value.end is None for a in answers)  # permanent assignments


async def test_policies_and_schedules_are_both_asked(emu: PagerDutyEmulator, pd: PagerDuty) -> None:
    emu.add_oncall(user="Direct Target", email="d@acme.example", escalation_policy_id="PEPPLAT")
    emu.add_oncall(
        user="Scheduled Person",
        email="s@acme.example",
        escalation_policy_id="PEPELSE",
        schedule_id="PSCHPLAT",
        start=NOW - timedelta(hours=1),
        end=NOW + timedelta(hours=1),
    )

    answers = await ask(pd, "platform ops")

    assert sorted(a.value.user for a in answers) == ["Direct Target", "Scheduled Person"]
    requests = emu.requests_to("/oncalls")
    assert [r.values("escalation_policy_ids[]") for r in requests] == [["PEPPLAT"], []]
    assert [r.values("schedule_ids[]") for r in requests] == [[], ["PSCHPLAT"]]


async def test_same_user_same_level_once(emu: PagerDutyEmulator, pd: PagerDuty) -> None:
    for policy in ("PEPPLAT", "PEPOTHER"):
        emu.add_oncall(
            user="Jane Doe",
            email="jane@acme.example",
            escalation_policy_id=policy,
            schedule_id="PSCHPLAT",
            user_id="PJANE",
        )
    emu.add_oncall(
        user="Jane Doe",
        email="jane@acme.example",
        escalation_policy_id="PEPPLAT",
        escalation_level=2,
        user_id="PJANE",
    )

    answers = await ask(pd, "Platform Ops")

    assert [(a.value.user, a.value.escalation_level) for a in answers] == [("Jane Doe", 1), ("Jane Doe", 2)]


async def test_pagination_reads_every_page(emu: PagerDutyEmulator, pd: PagerDuty) -> None:
    for i in range(230):
        emu.add_oncall(user=f"User {i:03d}", email=f"u{i}@acme.example", escalation_policy_id="PEPSEC")

    answers = await ask(pd, "security")

    assert len(answers) == 230 and len({a.value.email for a in answers}) == 230
    assert [r.values("offset") for r in emu.requests_to("/oncalls")] == [["0"], ["100"], ["200"]]


async def test_pagination_is_bounded(emu: PagerDutyEmulator) -> None:
    for i in range(230):
        emu.add_oncall(user=f"User {i:03d}", email=f"u{i}@acme.example", escalation_policy_id="PEPSEC")
    provider = make(emu.base_url, max_pages=2)
    await provider.open()
    try:
        answers = await ask(provider, "security")
    finally:
        await provider.aclose()
    assert len(answers) == 200
    assert len(emu.requests_to("/oncalls")) == 2


async def test_unknown_team_is_no_data(emu: PagerDutyEmulator, pd: PagerDuty) -> None:
    emu.add_oncall(user="Jane Doe", email="jane@acme.example", escalation_policy_id="PEPSEC")
    assert await ask(pd, "payments") == []
    assert emu.requests == []  # never an unfiltered /oncalls


async def test_times_with_offsets_become_utc(emu: PagerDutyEmulator, pd: PagerDuty) -> None:
    example = {  # PagerDuty's documented example, rendered in an account time zone
        "oncalls": [
            {
                "user": {
                    "id": "PT23IWX",
                    "type": "user_reference",
                    "summary": "Tim Wright",
                    "self": "https://api.pagerduty.com/users/PT23IWX",
                },
                "schedule": None,
                "escalation_policy": {
                    "id": "PT20YPA",
                    "type": "escalation_policy_reference",
                    "summary": "Engineering Escalation Policy",
                    "html_url": "https://subdomain.pagerduty.com/escalation_policies/PT20YPA",
                },
                "escalation_level": 2,
                "start": "2015-03-06T15:28:51-05:00",
                "end": "2015-03-07T15:28:51-05:00",
            }
        ],
        "limit": 25,
        "offset": 0,
        "more": False,
        "total": None,
    }
    emu.force_next(200, example)

    [answer] = await ask(pd, "security")

    assert answer.value.start == datetime(2015, 3, 6, 20, 28, 51, tzinfo=UTC)
    assert answer.value.email is None
    assert answer.source_ref == "https://subdomain.pagerduty.com/escalation_policies/PT20YPA"  # no user link


# --- errors ---


async def test_wrong_key_is_auth_error(emu: PagerDutyEmulator) -> None:
    emu.api_key = "the-right-key"
    provider = make(emu.base_url)
    await provider.open()
    try:
        with pytest.raises(ProviderAuthError) as caught:
            await ask(provider, "security")
    finally:
        await provider.aclose()
    assert "401" in caught.value.message and "2006" in caught.value.message
    assert_safe(caught.value)


async def test_forbidden_is_auth_error(emu: PagerDutyEmulator, pd: PagerDuty) -> None:
    emu.force_next(403, {"error": {"message": "Access Denied", "code": 2010, "errors": [API_KEY]}})
    with pytest.raises(ProviderAuthError) as caught:
        await ask(pd, "security")
    assert "403" in caught.value.message and "2010" in caught.value.message
    assert_safe(caught.value)


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({"Retry-After": "30"}, 30.0),
        ({"ratelimit-reset": "12"}, 12.0),
        ({}, None),
    ],
)
async def test_rate_limited(
    emu: PagerDutyEmulator, pd: PagerDuty, headers: dict[str, str], retry_after: float | None
) -> None:
    emu.force_next(429, {"error": {"message": "Rate Limit Exceeded", "code": 2020}}, headers=headers)
    with pytest.raises(ProviderRateLimited) as caught:
        await ask(pd, "security")
    assert caught.value.retry_after == retry_after
    assert_safe(caught.value)


async def test_retry_after_http_date(emu: PagerDutyEmulator, pd: PagerDuty) -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    emu.force_next(429, headers={"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")})
    with pytest.raises(ProviderRateLimited) as caught:
        await ask(pd, "security")
    assert caught.value.retry_after is not None and 80 <= caught.value.retry_after <= 91


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_is_unavailable(emu: PagerDutyEmulator, pd: PagerDuty, status: int) -> None:
    emu.force_next(status)
    with pytest.raises(ProviderUnavailable) as caught:
        await ask(pd, "security")
    assert str(status) in caught.value.message
    assert_safe(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"oncalls": "nobody"}',
        b'{"oncalls": [{"escalation_level": 1}]}',
        b'{"oncalls": [{"user": {"summary": "X"}, "escalation_level": 0}]}',
        b'{"oncalls": [{"user": {"summary": "X"}, "escalation_level": 1, "start": "yesterday"}]}',
    ],
)
async def test_malformed_response_is_bad_response(emu: PagerDutyEmulator, pd: PagerDuty, body: bytes) -> None:
    emu.force_next(200, body)
    with pytest.raises(BadResponse) as caught:
        await ask(pd, "security")
    assert_safe(caught.value)


async def test_other_client_errors_are_bad_response(emu: PagerDutyEmulator) -> None:
    emu.force_next(400, {"error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["x"]}})
    provider = make(emu.base_url + "/wrong-prefix")
    await provider.open()
    try:
        with pytest.raises(BadResponse, match="HTTP 400, error code 2001"):
            await ask(provider, "security")
        with pytest.raises(BadResponse, match="HTTP 404, error code 2100"):
            await ask(provider, "security")
    finally:
        await provider.aclose()


async def test_emulator_ands_its_filters_like_pagerduty(emu: PagerDutyEmulator) -> None:
    """Why the provider asks policies and schedules separately: one request with both returns the overlap."""
    emu.add_oncall(user="Direct Target", email="d@acme.example", escalation_policy_id="PEPPLAT")
    emu.add_oncall(
        user="Scheduled", email="s@acme.example", escalation_policy_id="PEPELSE", schedule_id="PSCH"
    )
    params = [("escalation_policy_ids[]", "PEPPLAT"), ("schedule_ids[]", "PSCH")]
    headers = {"Authorization": f"Token token={API_KEY}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(emu.base_url + "/oncalls", params=params, headers=headers) as response:
            body = await response.json()
    assert response.status == 200 and body["oncalls"] == [] and body["more"] is False


async def test_server_down_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = make(f"http://127.0.0.1:{port}")
    await provider.open()
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            await ask(provider, "security")
        health = await provider.health()
    finally:
        await provider.aclose()
    assert "127.0.0.1" in caught.value.message
    assert not health.ok
    assert_safe(caught.value)


async def test_timeout(emu: PagerDutyEmulator) -> None:
    emu.delay_s = 5
    provider = make(emu.base_url, timeout_s=0.2)
    await provider.open()
    started = time.monotonic()
    try:
        with pytest.raises(ProviderTimeout) as caught:
            await ask(provider, "security")
    finally:
        await provider.aclose()
    assert time.monotonic() - started < 2
    assert "0.2 s" in caught.value.message
    assert_safe(caught.value)


# --- health, config, secrets ---


async def test_health_ok(emu: PagerDutyEmulator, pd: PagerDuty) -> None:
    health = await pd.health()
    assert health.ok and "4 abilities" in health.detail
    assert [r.path for r in emu.requests] == ["/abilities"]


async def test_health_with_a_bad_key(emu: PagerDutyEmulator, pd: PagerDuty) -> None:
    emu.api_key = "another-key"
    health = await pd.health()
    assert not health.ok and "401" in health.detail and API_KEY not in health.detail


async def test_key_only_in_the_authorization_header(emu: PagerDutyEmulator, pd: PagerDuty) -> None:
    emu.add_oncall(user="Jane Doe", email="jane@acme.example", escalation_policy_id="PEPSEC")
    await ask(pd, "security")
    await ask(pd, "platform ops")
    await pd.health()

    assert len(emu.requests) == 4
    for request in emu.requests:
        assert request.headers["Authorization"] == f"Token token={API_KEY}"
        assert request.headers["Accept"] == "application/vnd.pagerduty+json;version=2"
        others = [v for k, v in request.headers.items() if k != "Authorization"]
        assert not any(API_KEY in v for v in [*others, request.path, *(v for _, v in request.query)])
    assert API_KEY not in repr(pd.config) and API_KEY not in pd.config.model_dump_json()


def test_config_defaults_and_team_names() -> None:
    provider = make("https://api.pagerduty.com/")
    config = provider.config
    assert config.egress == "external"
    assert config.base_url == "https://api.pagerduty.com"
    assert set(config.teams) == {"security", "platform ops"}
    assert PagerDuty.supported_queries() == ["TEAM_ONCALL"]
    [entry] = [e for e in entry_points(group="positron.providers") if e.name == "pagerduty"]
    assert entry.load() is PagerDuty


def test_docs_example_is_a_valid_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_API_KEY", API_KEY)
    text = (Path(__file__).parents[2] / "docs" / "providers" / "pagerduty.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```yaml\n(.*?)```", text, re.S)
    settings = parse_settings(yaml.safe_load(block), Registry({"pagerduty": PagerDuty}))
    config = settings.providers["pagerduty_main"]
    assert isinstance(config, PagerDutyConfig)
    assert config.api_key.get_secret_value() == API_KEY
    assert config.teams["platform ops"].schedule_ids == ["PI7DH85", "PQ9XYZ1"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"teams": {"security": {}}},  # no targets: would be an unfiltered /oncalls
        {"teams": {"Security": {"schedule_ids": ["A"]}, "security ": {"schedule_ids": ["B"]}}},
        {"teams": {"security": {"schedule_ids": ["bad id!"]}}},
        {"base_url": "ftp://api.pagerduty.com"},
        {"base_url": f"https://user:{API_KEY}@api.pagerduty.com"},
    ],
)
def test_config_rejects(overrides: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        make(**{"base_url": "https://api.pagerduty.com", **overrides})
    assert API_KEY not in str(caught.value.errors(include_url=False, include_input=False))


# --- time: each call has timeout_s, the whole answer the request's deadline (issue 13) ---------------------------


async def _engine_answer(emu: PagerDutyEmulator, timeout_s: float) -> Any:
    from positron.config import EngineConfig
    from positron.engine import Engine

    for i in range(150):  # two pages of 100
        emu.add_oncall(user=f"User {i:03d}", email=f"u{i}@acme.example", escalation_policy_id="PEPSEC")
    emu.delay_s = 0.65
    provider = make(emu.base_url, timeout_s=timeout_s)
    engine = Engine([provider], EngineConfig(deadline_s=10, retries=2, retry_backoff_s=0.01))
    await engine.start()
    try:
        return await engine.run(TEAM_ONCALL, "security")
    finally:
        await engine.close()


async def test_a_two_page_answer_of_slow_calls_each_within_timeout_s_answers(emu: PagerDutyEmulator) -> None:
    """Two requests of 0.65 s with timeout_s 1: each call is within its timeout, the answer within the deadline."""
    result = await _engine_answer(emu, timeout_s=1)
    (status,) = result.providers
    assert (status.status, status.error) == ("ok", None)
    assert result.merged.answer is not None
    assert [r.values("offset") for r in emu.requests_to("/oncalls")] == [["0"], ["100"]]


async def test_a_call_that_times_out_is_not_retried_from_the_first_page(emu: PagerDutyEmulator) -> None:
    result = await _engine_answer(emu, timeout_s=0.3)
    (status,) = result.providers
    assert (status.status, status.error_code) == ("timeout", "timeout")
    assert "within 0.3 s" in (status.error or "")
    assert len(emu.requests_to("/oncalls")) == 1  # not three first pages
