"""Merge strategies are pure: tested without I/O, with property tests for order independence and idempotence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from positron.queries import HASH_REPUTATION, IP_TO_HOSTNAME, USER_GROUPS, USER_INFO
from positron.queries.models import Reputation, UserInfo, Verdict

from positron.merge import Sourced, merge, recency
from positron.query import Answer

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def src(provider: str, value: object, weight: float = 1.0, confidence: float = 1.0, age_h: float | None = 0) -> Sourced:
    observed = None if age_h is None else NOW - timedelta(hours=age_h)
    return Sourced(provider, "fake", weight, Answer(value, confidence, observed, f"ref-{provider}"))


def test_agreement_ranks_first_and_keeps_every_source() -> None:
    merged = merge(IP_TO_HOSTNAME, [src("a", "ws-1"), src("b", "ws-1"), src("c", "ws-2")], NOW)
    assert merged.answer is not None
    assert merged.answer.value == "ws-1"
    assert [s.provider for s in merged.answer.sources] == ["a", "b"]
    assert [r.value for r in merged.answers] == ["ws-1", "ws-2"]
    assert merged.answer.confidence > merged.answers[1].confidence


def test_short_name_and_trailing_dot_merge_into_the_fqdn() -> None:
    merged = merge(IP_TO_HOSTNAME, [src("dhcp", "WS-042"), src("dns", "ws-042.corp.example.")], NOW)
    assert [r.value for r in merged.answers] == ["ws-042.corp.example"]
    assert {s.value for s in merged.answers[0].sources} == {"WS-042", "ws-042.corp.example."}


def test_short_name_stays_apart_when_it_abbreviates_two_fqdns() -> None:
    merged = merge(IP_TO_HOSTNAME, [src("a", "ws-1"), src("b", "ws-1.corp.example"), src("c", "ws-1.lab.example")], NOW)
    assert len(merged.answers) == 3


def test_close_scores_are_a_conflict_and_a_clear_winner_is_not() -> None:
    close = merge(IP_TO_HOSTNAME, [src("a", "ws-1", 0.8), src("b", "ws-2", 0.75)], NOW, margin=0.1)
    clear = merge(IP_TO_HOSTNAME, [src("a", "ws-1", 0.9), src("b", "ws-2", 0.3)], NOW, margin=0.1)
    assert close.conflict and not clear.conflict


def test_recency_prefers_what_was_seen_near_the_time_asked_about() -> None:
    merged = merge(IP_TO_HOSTNAME, [src("old", "ws-1", age_h=48), src("fresh", "ws-2", age_h=1)], NOW)
    assert merged.answer is not None and merged.answer.value == "ws-2"
    assert recency(NOW, NOW, 3600) == 1.0
    assert 0.5 < recency(NOW - timedelta(hours=1), NOW, 3600) < 1.0
    assert recency(None, NOW, 3600) == 0.75


def test_record_merge_fills_missing_fields_from_lower_ranked_sources() -> None:
    ad = UserInfo(username="jdoe", display_name="Jane Doe", title="Analyst")
    hr = UserInfo(username="JDoe", phone="+49 30 1", title="Senior Analyst")
    merged = merge(USER_INFO, [src("ad", ad, 1.0), src("hr", hr, 0.5)], NOW)
    assert merged.answer is not None
    assert merged.answer.value == UserInfo(username="jdoe", display_name="Jane Doe", title="Analyst", phone="+49 30 1")
    assert len(merged.answer.sources) == 2


def test_union_of_groups_with_members() -> None:
    merged = merge(USER_GROUPS, [src("ad", ["VPN", "SOC"]), src("hr", ["soc", "Finance"])], NOW)
    assert merged.answer is not None
    assert [g.casefold() for g in merged.answer.value] == ["finance", "soc", "vpn"]
    assert sorted(merged.details["members"][merged.answer.value[1]]) == ["ad", "hr"]


def rep(verdict: Verdict, **counts: int) -> Reputation:
    return Reputation(verdict=verdict, **counts)


def test_verdict_malicious_from_a_trusted_source_with_counts_summed() -> None:
    merged = merge(
        HASH_REPUTATION,
        [
            src("vt", rep(Verdict.MALICIOUS, malicious=40, total=70)),
            src("ioc", rep(Verdict.HARMLESS, harmless=1, total=1), 0.3),
        ],
        NOW,
    )
    assert merged.answer is not None
    assert merged.answer.value.verdict is Verdict.MALICIOUS
    assert merged.answer.value.malicious == 40 and merged.answer.value.total == 71
    assert merged.details["votes"] == {"malicious": ["vt"], "harmless": ["ioc"]}


def test_verdict_weak_bad_opinion_is_suspicious_and_nothing_is_unknown() -> None:
    weak = merge(HASH_REPUTATION, [src("feed", rep(Verdict.MALICIOUS, malicious=1), weight=0.35)], NOW)
    assert weak.answer is not None and weak.answer.value.verdict is Verdict.SUSPICIOUS
    unknown = merge(HASH_REPUTATION, [src("feed", rep(Verdict.UNKNOWN))], NOW)
    assert unknown.answer is not None and unknown.answer.value.verdict is Verdict.UNKNOWN
    assert merge(HASH_REPUTATION, [], NOW).answer is None


hosts = st.sampled_from(["ws-1", "WS-1", "ws-1.corp.example", "ws-2", "ws-2.corp.example.", "printer"])
sourced = st.builds(
    src,
    provider=st.sampled_from(["a", "b", "c", "d", "e"]),
    value=hosts,
    weight=st.floats(0, 1),
    confidence=st.floats(0, 1),
    age_h=st.one_of(st.none(), st.floats(0, 100)),
)
verdicts = st.builds(
    src,
    provider=st.sampled_from(["a", "b", "c", "d"]),
    value=st.builds(rep, st.sampled_from(list(Verdict)), malicious=st.integers(0, 9), total=st.integers(0, 9)),
    weight=st.floats(0, 1),
)


@given(st.lists(sourced, max_size=8), st.randoms())
def test_ranked_merge_is_order_independent_and_idempotent(items: list[Sourced], rnd: object) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    base = merge(IP_TO_HOSTNAME, items, NOW)
    assert merge(IP_TO_HOSTNAME, shuffled, NOW) == base
    assert merge(IP_TO_HOSTNAME, items + items, NOW) == base


@given(st.lists(verdicts, max_size=6), st.randoms())
def test_verdict_merge_is_order_independent_and_idempotent(items: list[Sourced], rnd: object) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    base = merge(HASH_REPUTATION, items, NOW)
    assert merge(HASH_REPUTATION, shuffled, NOW) == base
    assert merge(HASH_REPUTATION, items + items, NOW) == base
