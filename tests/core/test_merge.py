"""Merge strategies are pure: tested without I/O, with property tests for order independence and idempotence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import assume, given
from hypothesis import strategies as st
from positron.queries import HASH_REPUTATION, HOST_INFO, IP_TO_HOSTNAME, USER_GROUPS, USER_INFO
from positron.queries.models import HostInfo, Reputation, UserInfo, Verdict

from positron.evidence import Evidence, read
from positron.merge import Sourced, merge
from positron.query import Answer

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def src(provider: str, value: object, weight: float = 1.0, confidence: float = 1.0, age_h: float | None = 0) -> Sourced:
    observed = None if age_h is None else NOW - timedelta(hours=age_h)
    return Sourced(provider, "fake", weight, Answer(value, confidence, observed, f"ref-{provider}"))


def h(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def span(provider: str, value: object, start: float | None, end: float | None, seen: float | None = None,
         confidence: float = 0.9) -> Sourced:  # fmt: skip
    """An answer valid over [NOW + start h, NOW + end h), last seen at NOW + seen h (default: its start)."""
    at = lambda x: None if x is None else h(x)  # noqa: E731
    answer = Answer(value, confidence, at(seen if seen is not None else start), f"ref-{provider}", at(start), at(end))
    return Sourced(provider, "fake", 1.0, answer)


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
    assert close.conflict_providers == ("a", "b") and clear.conflict_providers == ()


def test_evidence_is_read_against_the_time_asked_about() -> None:
    def kind(start: float | None, end: float | None, seen: float | None = None) -> Evidence:
        return read(span("p", "x", start, end, seen).answer, NOW, 3600).evidence

    assert kind(-2, 1) is Evidence.CONTAINS  # a lease holding now
    assert kind(-2, None, seen=1) is Evidence.CONTAINS  # seen on both sides of NOW
    assert kind(-2, None) is Evidence.BEFORE  # last verified two hours ago, no known end
    assert kind(-3, -1) is Evidence.ENDED
    assert kind(1, None) is Evidence.AFTER
    assert read(Answer("x"), NOW, 3600).evidence is Evidence.UNDATED
    before = read(span("p", "x", -2, None).answer, NOW, 3600)
    assert (before.age_s, before.decay) == (7200.0, 0.25)


def test_decay_has_no_floor_and_no_rounding_so_old_evidence_still_orders() -> None:
    """What was seen: rows 11 and 12 days old tied at 0.425 and the older name won by name order."""
    rows = [span("splunk", "zz-newer-host-6", -11 * 24, None), span("splunk2", "aa-older-host-6", -12 * 24, None)]
    merged = merge(IP_TO_HOSTNAME, rows, NOW)
    assert merged.answer is not None and merged.answer.value == "zz-newer-host-6"
    assert merged.answers[0].why is not None and merged.answers[1].why is not None
    assert merged.answers[0].why.score > merged.answers[1].why.score > 0


def test_a_lease_that_contains_at_beats_a_fresher_log_line_that_does_not() -> None:
    """What was seen: a lease held now, renewed two days ago, lost to a log line from five minutes ago."""
    lease = span("dhcp", "ws-lease", -48, 24, confidence=0.95)
    log = span("splunk", "ws-log", -5 / 60, None, confidence=0.85)
    merged = merge(IP_TO_HOSTNAME, [log, lease], NOW)
    assert merged.answer is not None and merged.answer.value == "ws-lease"
    assert merged.answer.why is not None and merged.answer.why.evidence is Evidence.CONTAINS
    assert merged.answer.why.valid_from == h(-48) and merged.answer.why.valid_to == h(24)


def test_a_providers_history_does_not_conflict_with_itself() -> None:
    """Last week's holder and today's from one provider: only the value it held at `at` competes."""
    history = [span("splunk", "ws-old", -200, -20), span("splunk", "ws-now", -20, None, seen=-1)]
    merged = merge(IP_TO_HOSTNAME, history, NOW)
    assert merged.answer is not None and merged.answer.value == "ws-now"
    assert not merged.conflict
    assert [s.current for r in merged.answers for s in r.sources] == [True, False]
    then = merge(IP_TO_HOSTNAME, history, h(-100))
    assert then.answer is not None and then.answer.value == "ws-old" and not then.conflict


def test_one_providers_ranked_list_is_not_a_conflict() -> None:
    """PagerDuty's escalation levels 1 and 2 at 0.99 and 0.9 both hold: level 1 answers, no conflict."""
    levels = [span("pd", "level-1", -1, 5, confidence=0.99), span("pd", "level-2", -1, 5, confidence=0.9)]
    merged = merge(IP_TO_HOSTNAME, levels, NOW)
    assert merged.answer is not None and merged.answer.value == "level-1" and not merged.conflict


def test_independent_providers_disagreeing_at_at_are_a_conflict_naming_them() -> None:
    merged = merge(IP_TO_HOSTNAME, [span("dhcp", "ws-1", -1, 5, confidence=0.95),
                                    span("splunk", "ws-2", -2, 3, confidence=0.9)], NOW)  # fmt: skip
    assert merged.conflict and merged.conflict_providers == ("dhcp", "splunk")
    stale = merge(IP_TO_HOSTNAME, [span("dhcp", "ws-1", -1, 5), span("inventory", "ws-2", -900, None)], NOW)
    assert not stale.conflict  # a lease holding now against a row verified five weeks ago: not comparable


def test_alternatives_share_what_the_winner_leaves() -> None:
    merged = merge(IP_TO_HOSTNAME, [span("a", "ws-1", -1, 5), span("b", "ws-2", -3, None), span("c", "ws-3", -9, None)],
                   NOW)  # fmt: skip
    confidences = [r.confidence for r in merged.answers]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(confidences) <= 1.0 + 1e-9


def test_evidence_after_at_counts_less_than_the_same_age_before() -> None:
    merged = merge(IP_TO_HOSTNAME, [span("a", "ws-before", -5, None), span("b", "ws-after", 5, None)], NOW)
    assert merged.answer is not None and merged.answer.value == "ws-before"


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


def test_union_takes_each_providers_list_at_at_not_its_history() -> None:
    merged = merge(USER_GROUPS, [span("ad", ["Old-Team"], -90, -10), span("ad", ["SOC"], -10, None)], NOW)
    assert merged.answer is not None and merged.answer.value == ["SOC"]


def test_record_merge_ranks_the_current_manager_first_and_fills_from_agreeing_sources() -> None:
    """After a reorg the directory changed yesterday; the HR export still has the old manager from last month."""
    ad = span("ad", UserInfo(username="newboss", display_name="New Boss"), -24, None, seen=0)
    hr = span("hr", UserInfo(username="oldboss", title="Head of IT"), -30 * 24, None)
    merged = merge(USER_INFO, [hr, ad], NOW)
    assert merged.answer is not None and merged.answer.value.username == "newboss"
    assert merged.answer.value.title is None  # not filled from another person's record


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


def test_verdict_uses_each_providers_current_verdict() -> None:
    """A feed that listed a hash as malicious last year and cleared it last week votes harmless."""
    feed = [
        Sourced("feed", "t", 1.0, Answer(rep(Verdict.MALICIOUS, malicious=1), 1.0, h(-9000), None, h(-9000), h(-200))),
        Sourced("feed", "t", 1.0, Answer(rep(Verdict.HARMLESS, harmless=1), 1.0, h(-200), None, h(-200))),
    ]
    merged = merge(HASH_REPUTATION, feed, NOW)
    assert merged.answer is not None and merged.answer.value.verdict is Verdict.HARMLESS


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


def _timed(provider: str, value: str, start_h: float, length_h: float | None, seen_h: float) -> Sourced:
    end = None if length_h is None else h(start_h + length_h)
    answer = Answer(value, 0.9, h(seen_h), None, h(start_h), end)
    return Sourced(provider, "fake", 1.0, answer)


timed = st.builds(
    _timed,
    provider=st.sampled_from(["a", "b", "c", "d"]),
    value=st.sampled_from(["ws-1", "ws-2", "ws-3"]),
    start_h=st.floats(-500, 50),
    length_h=st.one_of(st.none(), st.floats(0, 200)),
    seen_h=st.floats(-500, 50),
)


@given(st.lists(timed, max_size=8), st.randoms(), st.floats(-300, 60))
def test_temporal_merge_is_order_independent_and_idempotent(items: list[Sourced], rnd: object, at_h: float) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    base = merge(IP_TO_HOSTNAME, items, h(at_h))
    assert merge(IP_TO_HOSTNAME, shuffled, h(at_h)) == base
    assert merge(IP_TO_HOSTNAME, items + items, h(at_h)) == base


RENAME = {"ws-1": "ws-3", "ws-2": "ws-2", "ws-3": "ws-1"}  # reverses the name order


@given(st.lists(timed, min_size=1, max_size=6, unique_by=lambda s: s.answer.value), st.floats(-300, 60))
def test_name_order_never_decides_between_different_evidence(items: list[Sourced], at_h: float) -> None:
    """Renaming the values (reversing their order) renames the answer: the winner is chosen by its evidence."""
    times = [(s.answer.valid_from, s.answer.valid_to, s.answer.observed_at) for s in items]
    assume(len(set(times)) == len(times))  # identical evidence is the one place where the name may decide
    renamed = [Sourced(s.provider, s.provider_type, s.weight, Answer(RENAME[s.answer.value], s.answer.confidence,
               s.answer.observed_at, None, s.answer.valid_from, s.answer.valid_to)) for s in items]  # fmt: skip
    before, after = merge(IP_TO_HOSTNAME, items, h(at_h)), merge(IP_TO_HOSTNAME, renamed, h(at_h))
    assert before.answer is not None and after.answer is not None
    assert after.answer.value == RENAME[before.answer.value]


def test_a_host_record_stays_a_record_when_a_short_name_joins_its_fqdn() -> None:
    """HOST_INFO is a record keyed by host name: the merged value is the filled record, not the group's key
    (seen on the demo: the Cortex HOST_INFO flavor got the string 'ws-042.corp.example')."""
    full = HostInfo(hostname="ws-042.corp.example", ip="10.20.0.42")
    short = HostInfo(hostname="ws-042", os="Windows 11", owner="jdoe")
    merged = merge(HOST_INFO, [src("inventory", full, weight=1.0), src("edr", short, weight=0.5)], NOW)
    assert merged.answer is not None
    expected = HostInfo(hostname="ws-042.corp.example", ip="10.20.0.42", os="Windows 11", owner="jdoe")
    assert merged.answer.value == expected
    assert len(merged.answers) == 1  # one host: the short name joined the FQDN
