"""Observable extraction, refanging, alert time and the Markdown summary: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from positron.errors import InvalidInput
from positron.workflows.observables import TYPE_QUERIES, Observable, alert_time, extract, refang, typed
from positron.workflows.summary import markdown

WEBHOOK = {
    "search_name": "Malware on endpoint",
    "sid": "scheduler__admin__search__RMD5",
    "results_link": "https://splunk.corp.example:8000/app/search/@go?sid=scheduler__admin",
    "app": "search",
    "owner": "admin",
    "result": {
        "user": "CORP\\jdoe",
        "md5": "44D88612FEA8A8F36DE82E1278ABB02F",
        "hostname": "WS-042",
        "src_ip": "10.20.0.42",
        "_time": "1763640000",
        "message": "beacon to hxxps://evil[.]example/gate from 10.20.0.42, reported by alice.smith@corp.example",
    },
}


def test_splunk_webhook_observables_from_hints_and_patterns() -> None:
    found = extract(WEBHOOK)
    assert found == [
        Observable("username", "jdoe", "user"),
        Observable("hash", "44d88612fea8a8f36de82e1278abb02f", "md5"),
        Observable("hostname", "ws-042", "hostname"),
        Observable("ip", "10.20.0.42", "src_ip"),
        Observable("mail", "alice.smith@corp.example", "message"),
        Observable("url", "https://evil.example/gate", "message"),
        Observable("domain", "evil.example", "message"),
    ]


def test_metadata_of_the_webhook_is_not_scanned() -> None:
    values = {o.value for o in extract(WEBHOOK)}
    assert "splunk.corp.example" not in values


def test_src_and_dest_may_be_ips_or_hosts_and_duplicates_collapse() -> None:
    found = extract(
        {"src": "ws-1.corp.example", "dest": "10.0.0.1", "note": "again 10.0.0.1", "ip": "unknown", "dest_ip": "-"}
    )
    assert [(o.type, o.value) for o in found] == [("hostname", "ws-1.corp.example"), ("ip", "10.0.0.1")]


def test_file_names_are_not_domains_unless_defanged_or_in_a_url() -> None:
    found = extract({"file": "invoice.pdf.exe", "cmd": "curl http://203.0.113.9/x; ping bad[.]example"})
    assert {(o.type, o.value) for o in found} == {
        ("url", "http://203.0.113.9/x"),
        ("ip", "203.0.113.9"),
        ("domain", "bad.example"),
    }


def test_urls_are_refanged_normalized_and_asked_for_url_reputation() -> None:
    found = extract({"url": "hxxps://Login.Evil[.]example/a?b=1", "msg": "see (https://x.example/p)."})
    assert [(o.type, o.value) for o in found] == [
        ("url", "https://login.evil.example/a?b=1"),
        ("domain", "login.evil.example"),
        ("url", "https://x.example/p"),
        ("domain", "x.example"),
    ]
    assert TYPE_QUERIES["url"] == ("URL_REPUTATION",)


def test_refang() -> None:
    assert refang("hxxp://a[.]b(.)c[:]80 x[@]y") == "http://a.b.c:80 x@y"


def test_alert_time_epoch_iso_and_custom_field() -> None:
    assert alert_time(WEBHOOK) == datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
    assert alert_time({"_time": "2026-11-20T09:14:00Z"}) == datetime(2026, 11, 20, 9, 14, tzinfo=UTC)
    assert alert_time({"detected": "2026-11-20T09:14:00+01:00"}, "detected") == datetime(
        2026, 11, 20, 8, 14, tzinfo=UTC
    )
    assert alert_time({"msg": "none"}) is None


def test_typed_observables_are_normalized_and_bad_ones_named() -> None:
    assert typed([{"type": "ip", "value": "10.0.0.1"}, {"type": "ip", "value": " 10.0.0.1"}]) == [
        Observable("ip", "10.0.0.1")
    ]
    with pytest.raises(InvalidInput, match=r"observables.1.value: expected an MD5"):
        typed([{"type": "ip", "value": "10.0.0.1"}, {"type": "hash", "value": "zz"}])
    with pytest.raises(InvalidInput, match=r"observables.0.type: expected one of"):
        typed([{"type": "car", "value": "x"}])


def _body(value: object, conflict: bool = False, providers: list[dict[str, str]] | None = None) -> dict[str, object]:
    return {"answer": {"value": value}, "conflict": conflict, "providers": providers or []}


def test_markdown_summary_has_the_facts_an_analyst_pastes() -> None:
    entries = [
        {
            "type": "username",
            "value": "jdoe",
            "results": {
                "USER_INFO": _body(
                    {"display_name": "Jane Doe", "title": "Analyst", "department": "SOC", "location": "Berlin"}
                ),
                "USER_MANAGER": _body({"username": "asmith", "display_name": "Alice Smith", "email": "a@corp.example"}),
            },
        },
        {
            "type": "hash",
            "value": "44d8",
            "results": {
                "HASH_REPUTATION": _body(
                    {
                        "verdict": "malicious",
                        "malicious": 63,
                        "total": 67,
                        "label": "virus.eicar/test",
                        "link": "https://vt/x",
                    }
                )
            },
        },
        {
            "type": "ip",
            "value": "10.20.0.42",
            "results": {
                "IP_TO_HOSTNAME": _body("laptop-7", conflict=True),
                "IP_TO_MAC": _body("00:16:3e:aa:bb:cc"),
                "IP_REPUTATION": {"error": {"code": "forbidden"}},
            },
        },
        {
            "type": "hostname",
            "value": "ws-042",
            "results": {"HOSTNAME_TO_IP": _body("10.20.0.42", providers=[{"name": "dns", "status": "timeout"}])},
        },
    ]
    text = markdown(entries, title="Malware on endpoint", at="2026-11-20T12:00:00+00:00")
    assert "### Positron enrichment — Malware on endpoint" in text
    assert "Jane Doe, Analyst, SOC, Berlin; manager: Alice Smith (a@corp.example)" in text
    assert "**MALICIOUS** (63/67 detections), virus.eicar/test — [details](https://vt/x)" in text
    assert "host at alert time: laptop-7, MAC 00:16:3e:aa:bb:cc *(sources disagree)*" in text
    assert "IP at alert time: 10.20.0.42" in text
    assert "_Sources that did not answer: dns \\(timeout\\)_" in text


def test_markdown_escapes_provider_values() -> None:
    entries = [{"type": "ip", "value": "10.0.0.1", "results": {"IP_TO_HOSTNAME": _body("[click](http://x)*")}}]
    assert "\\[click\\]\\(http://x\\)\\*" in markdown(entries)


def test_a_url_line_shows_its_reputation_and_cannot_break_out_of_its_code_span() -> None:
    body = {"answer": {"value": {"verdict": "malicious", "malicious": 7, "total": 57, "label": None, "link": None}}}
    entries = [{"type": "url", "value": "http://evil.example/`**x**`", "results": {"URL_REPUTATION": body}}]
    line = markdown(entries).splitlines()[2]
    assert line == "- **URL `http://evil.example/%60**x**%60`** — **MALICIOUS** (7/57 detections)"
