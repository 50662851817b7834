"""The verdict merge across VirusTotal, MISP, a blocklist and AbuseIPDB (pure; docs/verdicts.md): who wins and why,
in particular a local allowlist or MISP false-positive decision against a VirusTotal false positive."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from positron.queries import IP_REPUTATION, Reputation, Verdict

from positron.merge import CLEARED_AT, Sourced, merge
from positron.query import Answer

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def vt(verdict: Verdict = Verdict.MALICIOUS, malicious: int = 12, weight: float = 0.8) -> Sourced:
    rep = Reputation(
        verdict=verdict,
        malicious=malicious,
        harmless=60,
        total=72,
        label="trojan.generic",
        link="https://www.virustotal.com/gui/ip-address/198.51.100.7",
    )
    return Sourced("virustotal", "virustotal", weight, Answer(rep, 1.0, NOW - timedelta(hours=1)))


def allowlist(weight: float = 1.0, confidence: float = 1.0) -> Sourced:
    rep = Reputation(verdict=Verdict.HARMLESS, harmless=1, total=3, label="our mail relay", allowlisted=True)
    return Sourced("blocklists", "blocklist", weight, Answer(rep, confidence, NOW - timedelta(minutes=5)))


def misp(verdict: Verdict, *, allowlisted: bool = False, confidence: float = 0.95) -> Sourced:
    rep = Reputation(
        verdict=verdict,
        malicious=int(verdict is Verdict.MALICIOUS),
        harmless=int(allowlisted),
        total=1,
        label="Emotet C2" if not allowlisted else "Scanner list",
        allowlisted=allowlisted,
        link="https://misp.corp.example/events/view/7",
    )
    return Sourced("misp", "misp", 0.9, Answer(rep, confidence, NOW - timedelta(days=2)))


def spamhaus() -> Sourced:
    rep = Reputation(verdict=Verdict.MALICIOUS, malicious=1, total=2, label="spamhaus-drop")
    return Sourced("blocklists", "blocklist", 0.7, Answer(rep, 0.9, NOW - timedelta(minutes=5)))


def abuseipdb(verdict: Verdict, confidence: float = 0.8, allowlisted: bool = False) -> Sourced:
    rep = Reputation(verdict=verdict, malicious=int(verdict is Verdict.MALICIOUS), total=1, allowlisted=allowlisted)
    return Sourced("abuseipdb", "abuseipdb", 0.7, Answer(rep, confidence, NOW - timedelta(days=1)))


def verdict_of(*items: Sourced) -> tuple[Verdict, bool, dict[str, object]]:
    merged = merge(IP_REPUTATION, list(items), NOW)
    assert merged.answer is not None
    return merged.answer.value.verdict, merged.conflict, merged.details


def test_a_local_allowlist_beats_a_virustotal_false_positive_and_says_so():
    merged = merge(IP_REPUTATION, [vt(), allowlist()], NOW)
    assert merged.answer is not None
    rep = merged.answer.value
    assert (rep.verdict, rep.allowlisted, rep.label) == (Verdict.HARMLESS, True, "our mail relay")
    assert rep.malicious == 12  # the engines' votes are still counted and shown
    assert merged.conflict is True and merged.details["cleared_by"] == ["blocklists"]
    assert merged.details["votes"] == {"malicious": ["virustotal"], "harmless": ["blocklists"]}


def test_misp_false_positive_sightings_beat_a_virustotal_false_positive():
    verdict, conflict, details = verdict_of(vt(), misp(Verdict.HARMLESS, allowlisted=True))
    assert (verdict, conflict, details["cleared_by"]) == (Verdict.HARMLESS, True, ["misp"])


def test_a_low_trust_allowlist_clears_nothing():
    weak = allowlist(weight=0.4)  # 0.4 × 1.0 × recency < CLEARED_AT
    assert 0.4 < CLEARED_AT
    verdict, conflict, details = verdict_of(vt(), weak)
    assert verdict == Verdict.MALICIOUS and "cleared_by" not in details
    assert conflict is False  # the weak harmless vote is below the conflict bar too


def test_a_harmless_engine_vote_is_not_a_clearance():
    """VirusTotal's harmless (no engine flags it) is an absence of detections, not a decision: MISP's malicious
    IDS attribute still wins."""
    verdict, _, details = verdict_of(vt(Verdict.HARMLESS, malicious=0), misp(Verdict.MALICIOUS))
    assert verdict == Verdict.MALICIOUS and "cleared_by" not in details


def test_blocklist_and_abuseipdb_agreeing_make_it_malicious_against_a_quiet_virustotal():
    verdict, conflict, _ = verdict_of(vt(Verdict.HARMLESS, malicious=0), spamhaus(), abuseipdb(Verdict.MALICIOUS))
    assert verdict == Verdict.MALICIOUS and conflict is True


def test_abuseipdb_whitelist_clears_a_blocklist_listing():
    verdict, _, details = verdict_of(spamhaus(), abuseipdb(Verdict.HARMLESS, confidence=1.0, allowlisted=True))
    assert verdict == Verdict.HARMLESS and details["cleared_by"] == ["abuseipdb"]


def test_without_an_allowlist_the_old_rules_hold():
    assert verdict_of(vt(Verdict.SUSPICIOUS, malicious=1))[0] == Verdict.SUSPICIOUS
    assert verdict_of(abuseipdb(Verdict.UNKNOWN))[0] == Verdict.UNKNOWN
    assert verdict_of(vt(Verdict.HARMLESS, malicious=0))[0] == Verdict.HARMLESS


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_the_verdict_never_depends_on_arrival_order(order: tuple[int, ...]):
    items = [vt(), misp(Verdict.MALICIOUS), allowlist(), abuseipdb(Verdict.MALICIOUS)]
    merged = merge(IP_REPUTATION, [items[i] for i in order], NOW)
    reference = merge(IP_REPUTATION, items, NOW)
    assert merged == reference and merged.answer is not None and merged.answer.value.verdict == Verdict.HARMLESS
