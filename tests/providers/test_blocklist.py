"""The blocklist provider against a feed server speaking the real formats (tests/emulators/feeds.py) and files."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from positron.providers.blocklist import Blocklist
from positron.queries import DOMAIN_REPUTATION, IP_REPUTATION, URL_REPUTATION, Verdict
from pydantic import ValidationError

from positron.config import parse_settings
from positron.errors import ConfigError, ProviderUnavailable
from positron.query import Answer, Lookup
from tests.emulators.feeds import (
    FeedServer,
    fail2ban_list,
    feodo_csv,
    firehol_netset,
    hosts_file,
    spamhaus_drop,
    urlhaus_csv,
)
from tests.support.apps import registry

DROP = ["1.10.16.0/20", "198.51.0.0/16", "2001:db8::/32"]
FEODO = [("2026-11-30 07:44:46", "203.0.113.9", "QakBot"), ("2026-11-29 01:02:03", "198.51.100.7", "Emotet")]
URLHAUS = [
    ("2787000", "2026-12-01 11:59:07", "http://203.0.113.50:35285/i", "malware_download"),
    ("2787001", "2026-12-01 11:58:00", "https://Evil.Example/Login.php?x=1", "phishing"),
]
MakeProvider = Callable[..., Any]


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        server.publish("/drop.txt", spamhaus_drop(DROP))
        server.publish("/ipblocklist.csv", feodo_csv(FEODO), "text/csv")
        server.publish("/csv_recent/", urlhaus_csv(URLHAUS), "text/csv")
        server.publish("/hosts", hosts_file(["evil.example", "bad.test"]))
        yield server


def drop(feeds: FeedServer, **extra: Any) -> dict[str, Any]:
    url = feeds.base_url + "/drop.txt"
    return {"name": "spamhaus_drop", "url": url, "kinds": ["ip"], "label": "spamhaus-drop", **extra}


def feodo(feeds: FeedServer) -> dict[str, Any]:
    return {
        "name": "feodo",
        "url": feeds.base_url + "/ipblocklist.csv",
        "format": "csv",
        "kinds": ["ip"],
        "value": "dst_ip",
        "label_column": "malware",
        "seen_column": "first_seen_utc",
    }


def urlhaus(feeds: FeedServer) -> dict[str, Any]:
    return {
        "name": "urlhaus",
        "url": feeds.base_url + "/csv_recent/",
        "format": "csv",
        "kinds": ["url"],
        "value": "url",
        "label_column": "threat",
        "link_column": "urlhaus_link",
        "seen_column": "dateadded",
    }


@pytest.fixture
def make_provider() -> MakeProvider:
    @asynccontextmanager
    async def make(*feed_configs: dict[str, Any], **config: Any) -> AsyncIterator[Blocklist]:
        raw = {"type": "blocklist", "feeds": list(feed_configs), **config}
        provider = Blocklist("bl", Blocklist.Config.model_validate(raw))
        await provider.open()
        try:
            yield provider
        finally:
            await provider.aclose()

    return make


async def ask(provider: Blocklist, query: Any, raw: str) -> list[Answer[Any]]:
    return await provider.ask(Lookup(query, query.normalize(raw)))


# IP_REPUTATION: CIDR longest-prefix match, IPv4 and IPv6


async def test_spamhaus_drop_ranges_match_addresses_inside_them(make_provider: MakeProvider, feeds: FeedServer):
    async with make_provider(drop(feeds)) as provider:
        (answer,) = await ask(provider, IP_REPUTATION, "1.10.31.255")
        assert await ask(provider, IP_REPUTATION, "1.10.32.0") == []  # just outside the /20
        (v6,) = await ask(provider, IP_REPUTATION, "2001:db8:ffff::1")
    rep = answer.value
    assert (rep.verdict, rep.malicious, rep.total, rep.label) == (Verdict.MALICIOUS, 1, 1, "spamhaus-drop")
    assert answer.source_ref == "spamhaus_drop:1.10.16.0/20" and answer.confidence == 0.9
    assert v6.source_ref == "spamhaus_drop:2001:db8::/32"


async def test_the_longest_prefix_wins_across_nested_ranges(make_provider: MakeProvider, tmp_path: Path):
    listed = tmp_path / "nested.csv"
    listed.write_text(
        "network,why\n10.0.0.0/8,wide\n10.20.0.0/16,narrower\n10.20.30.0/24,narrowest\n10.20.30.40,host\n"
        "2001:db8::/32,v6-wide\n2001:db8:1::/48,v6-narrow\n"
    )
    feed = {"name": "nested", "path": str(listed), "format": "csv", "value": "network", "label_column": "why"}
    async with make_provider(feed) as provider:
        labels = {
            ip: (await ask(provider, IP_REPUTATION, ip))[0].value.label
            for ip in ("10.1.1.1", "10.20.1.1", "10.20.30.1", "10.20.30.40", "2001:db8:2::1", "2001:db8:1::1")
        }
    assert labels == {
        "10.1.1.1": "wide",
        "10.20.1.1": "narrower",
        "10.20.30.1": "narrowest",
        "10.20.30.40": "host",
        "2001:db8:2::1": "v6-wide",
        "2001:db8:1::1": "v6-narrow",
    }


async def test_feodo_csv_gives_the_family_and_when_it_was_first_seen(make_provider: MakeProvider, feeds: FeedServer):
    async with make_provider(drop(feeds), feodo(feeds)) as provider:
        (answer,) = await ask(provider, IP_REPUTATION, "198.51.100.7")
    rep = answer.value
    assert (rep.verdict, rep.malicious, rep.undetected, rep.total) == (Verdict.MALICIOUS, 2, 0, 2)
    assert answer.source_ref == "spamhaus_drop:198.51.0.0/16, feodo:198.51.100.7/32"
    # both feeds say malicious with the same confidence: the first in config order labels the answer
    assert rep.label == "spamhaus-drop"


async def test_a_feed_entry_time_is_the_observation_time(make_provider: MakeProvider, feeds: FeedServer):
    async with make_provider(feodo(feeds)) as provider:
        (answer,) = await ask(provider, IP_REPUTATION, "203.0.113.9")
    assert answer.value.label == "QakBot"
    assert answer.observed_at == datetime(2026, 11, 30, 7, 44, 46, tzinfo=UTC)


async def test_firehol_and_fail2ban_lists_from_files(make_provider: MakeProvider, tmp_path: Path):
    (tmp_path / "level1.netset").write_text(firehol_netset(["0.0.0.0/8", "5.188.10.0/23"]))
    (tmp_path / "banned.txt").write_text(fail2ban_list(["192.0.2.77", "2001:db8::bad"]))
    firehol = {"name": "firehol_level1", "path": str(tmp_path / "level1.netset")}
    bans = {"name": "ssh_bans", "path": str(tmp_path / "banned.txt"), "verdict": "suspicious"}
    async with make_provider(firehol, bans) as provider:
        (net,) = await ask(provider, IP_REPUTATION, "5.188.11.200")
        (ban,) = await ask(provider, IP_REPUTATION, "2001:db8::BAD")
        health = await provider.health()
    assert net.value.verdict == Verdict.MALICIOUS and net.source_ref == "firehol_level1:5.188.10.0/23"
    assert ban.value.verdict == Verdict.SUSPICIOUS and ban.value.suspicious == 1
    assert health.ok and "firehol_level1: 2 entries" in health.detail and "ssh_bans: 2 entries" in health.detail


# DOMAIN_REPUTATION: exact and parent-domain match


async def test_domains_match_exactly_and_by_parent(make_provider: MakeProvider, feeds: FeedServer):
    hosts = {"name": "hosts", "url": feeds.base_url + "/hosts", "kinds": ["domain"]}
    async with make_provider(hosts) as provider:
        (exact,) = await ask(provider, DOMAIN_REPUTATION, "Evil.Example.")
        (child,) = await ask(provider, DOMAIN_REPUTATION, "a.b.evil.example")
        assert await ask(provider, DOMAIN_REPUTATION, "notevil.example") == []
        health = await provider.health()
    assert exact.source_ref == child.source_ref == "hosts:evil.example"
    assert exact.confidence == 0.9 and child.confidence == pytest.approx(0.81)
    assert "hosts: 2 entries" in health.detail and "1 lines rejected (first at line 2)" in health.detail


# URL_REPUTATION: URLhaus, normalized, and by host


async def test_urlhaus_urls_match_after_refanging_and_normalization(make_provider: MakeProvider, feeds: FeedServer):
    async with make_provider(urlhaus(feeds), feodo(feeds)) as provider:
        (listed,) = await ask(provider, URL_REPUTATION, "hxxps://evil[.]example/Login.php?x=1#top")
        (by_host,) = await ask(provider, URL_REPUTATION, "http://203.0.113.9/other")
        assert await ask(provider, URL_REPUTATION, "https://evil.example/login.php?x=1") == []  # path is case-kept
    assert listed.value.label == "phishing" and listed.value.link == "https://urlhaus.abuse.ch/url/2787001/"
    assert listed.source_ref == "urlhaus:https://evil.example/Login.php?x=1" and listed.confidence == 0.9
    assert listed.observed_at == datetime(2026, 12, 1, 11, 58, tzinfo=UTC)
    assert by_host.source_ref == "feodo:203.0.113.9/32" and by_host.confidence == pytest.approx(0.72)


# refresh: conditional requests, last good copy, age, schedule


async def test_refresh_is_conditional_and_a_new_version_replaces_the_copy(
    make_provider: MakeProvider, feeds: FeedServer
):
    async with make_provider(drop(feeds)) as provider:
        first = feeds.fetches("/drop.txt")[0]
        await provider.refresh_now()
        second = feeds.fetches("/drop.txt")[1]
        assert await ask(provider, IP_REPUTATION, "192.0.2.1") == []
        feeds.publish("/drop.txt", spamhaus_drop([*DROP, "192.0.2.0/24"]))
        await provider.refresh_now()
        (answer,) = await ask(provider, IP_REPUTATION, "192.0.2.1")
    assert "If-None-Match" not in first.headers
    assert second.headers["If-None-Match"].startswith('"') and "If-Modified-Since" in second.headers
    assert answer.source_ref == "spamhaus_drop:192.0.2.0/24"


async def test_a_failed_refresh_keeps_serving_the_last_good_copy(make_provider: MakeProvider, feeds: FeedServer):
    async with make_provider(drop(feeds)) as provider:
        for fault in (503, 404, 429):
            feeds.fail(fault, retry_after=60)
            await provider.refresh_now()
            (answer,) = await ask(provider, IP_REPUTATION, "1.10.16.1")
            assert answer.value.verdict == Verdict.MALICIOUS
        health = await provider.health()
        feeds.publish("/drop.txt", "<html><body>Service temporarily unavailable</body></html>")
        await provider.refresh_now()
        (still,) = await ask(provider, IP_REPUTATION, "1.10.16.1")
        after_bad_body = await provider.health()
    assert health.ok  # the copy is young: serving it is healthy, and the detail says what failed
    assert "serving the last good copy, refresh failed: feed spamhaus_drop" in health.detail
    assert "HTTP 429" in health.detail and "age " in health.detail
    assert still.source_ref == "spamhaus_drop:1.10.16.0/20"
    assert "no line of the feed is a valid entry" in after_bad_body.detail


async def test_a_feed_never_loaded_is_unavailable_and_unhealthy(make_provider: MakeProvider, feeds: FeedServer):
    feeds.fail(500)
    async with make_provider(drop(feeds, retry_s=3600)) as provider:
        with pytest.raises(ProviderUnavailable, match="no ip feed is loaded yet"):
            await ask(provider, IP_REPUTATION, "1.10.16.1")
        health = await provider.health()
        assert await ask(provider, DOMAIN_REPUTATION, "evil.example") == []  # no domain feed: nothing to say
    assert not health.ok and "spamhaus_drop: not loaded (feed spamhaus_drop" in health.detail


async def test_feeds_refresh_on_their_schedule(make_provider: MakeProvider, feeds: FeedServer):
    async with make_provider(drop(feeds, refresh_s=0.05)) as provider:
        deadline = time.monotonic() + 20
        while len(feeds.fetches("/drop.txt")) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert len(feeds.fetches("/drop.txt")) >= 3
        assert (await ask(provider, IP_REPUTATION, "1.10.16.1"))[0].value.verdict == Verdict.MALICIOUS


async def test_a_changed_file_is_reloaded_and_an_unchanged_one_is_not_reparsed(
    make_provider: MakeProvider, tmp_path: Path
):
    path = tmp_path / "bans.txt"
    path.write_text(fail2ban_list(["192.0.2.1"]))
    async with make_provider({"name": "bans", "path": str(path)}) as provider:
        copy = provider.feeds[0].copy
        await provider.refresh_now()
        assert provider.feeds[0].copy is copy  # same size and mtime: the same copy, its age renewed
        path.write_text(fail2ban_list(["192.0.2.1", "192.0.2.2"]))
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
        await provider.refresh_now()
        (answer,) = await ask(provider, IP_REPUTATION, "192.0.2.2")
        path.unlink()
        await provider.refresh_now()
        (kept,) = await ask(provider, IP_REPUTATION, "192.0.2.2")
        health = await provider.health()
    assert answer.source_ref == kept.source_ref == "bans:192.0.2.2/32"
    assert "FileNotFoundError" in health.detail


async def test_an_auth_header_is_sent_and_a_refused_one_is_reported(make_provider: MakeProvider):
    async with FeedServer(required_header=("Auth-Key", "feed-key-123")) as server:
        server.publish("/drop.txt", spamhaus_drop(DROP))
        good = {"name": "keyed", "url": server.base_url + "/drop.txt", "headers": {"Auth-Key": "feed-key-123"}}
        bad = {"name": "wrong", "url": server.base_url + "/drop.txt", "headers": {"Auth-Key": "nope"}}
        async with make_provider(good, bad) as provider:
            health = await provider.health()
            (answer,) = await ask(provider, IP_REPUTATION, "1.10.16.1")
    assert answer.source_ref == "keyed:1.10.16.0/20"
    assert "wrong: not loaded (feed wrong (127.0.0.1): HTTP 401: the credentials were refused)" in health.detail
    assert "feed-key-123" not in health.detail and "nope" not in health.detail


# verdicts within one instance


async def test_an_allowlist_match_overrides_the_blocklists_of_the_same_instance(
    make_provider: MakeProvider, feeds: FeedServer, tmp_path: Path
):
    (tmp_path / "allow.txt").write_text("# our own mail relay, listed by mistake\n1.10.16.25\n")
    allow = {"name": "allow", "path": str(tmp_path / "allow.txt"), "verdict": "harmless", "confidence": 1.0}
    async with make_provider(drop(feeds), allow) as provider:
        (allowed,) = await ask(provider, IP_REPUTATION, "1.10.16.25")
        (other,) = await ask(provider, IP_REPUTATION, "1.10.16.26")
    assert (allowed.value.verdict, allowed.value.malicious, allowed.value.harmless) == (Verdict.HARMLESS, 1, 1)
    assert allowed.confidence == 1.0 and allowed.value.label == "allow" and allowed.value.allowlisted
    assert other.value.verdict == Verdict.MALICIOUS and not other.value.allowlisted


# egress: lookups never reach a feed's server


async def test_lookup_values_never_reach_the_feed_server(make_provider: MakeProvider, feeds: FeedServer):
    async with make_provider(drop(feeds), urlhaus(feeds)) as provider:
        await ask(provider, IP_REPUTATION, "10.20.0.42")
        await ask(provider, URL_REPUTATION, "http://intranet.corp.example/secret?q=10.20.0.42")
        await provider.refresh_now()
    assert {r.path for r in feeds.requests} == {"/drop.txt", "/csv_recent/"}
    assert all(r.query_string == "" for r in feeds.requests)
    assert not any("10.20.0.42" in str(r) or "corp.example" in str(r) for r in feeds.requests)
    assert Blocklist.Config.model_validate({"type": "blocklist", "feeds": [drop(feeds)]}).egress == "internal"


# configuration


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ({"name": "x"}, "give exactly one of url or path"),
        ({"name": "x", "url": "http://a.example/x", "path": "/tmp/x"}, "give exactly one of url or path"),
        ({"name": "x", "url": "ftp://a.example/x"}, "must be an http(s) URL"),
        ({"name": "x", "url": "https://user:pw@a.example/x"}, "no credentials"),
        ({"name": "x y", "path": "/tmp/x"}, "name"),
        ({"name": "x", "path": "/tmp/x", "kinds": []}, "feeds.0.kinds: List should have at least 1 item"),
        ({"name": "x", "path": "/tmp/x", "kinds": ["hash"]}, "kinds"),
    ],
)
def test_bad_feed_settings_are_refused_naming_the_key(feed: dict[str, Any], message: str):
    with pytest.raises(ConfigError) as info:
        parse_settings({"providers": {"bl": {"type": "blocklist", "feeds": [feed]}}}, registry())
    assert info.value.message.startswith("providers.bl.feeds.0")
    assert message in info.value.message and "pw" not in info.value.message


def test_feed_names_are_unique():
    feeds = [{"name": "a", "path": "/tmp/a"}, {"name": "a", "path": "/tmp/b"}]
    with pytest.raises(ValidationError, match="repeated: a"):
        Blocklist.Config.model_validate({"type": "blocklist", "feeds": feeds})


async def test_a_csv_column_missing_from_the_header_is_reported(make_provider: MakeProvider, feeds: FeedServer):
    async with make_provider({**feodo(feeds), "value": "ip_address"}) as provider:
        health = await provider.health()
    assert not health.ok and "column 'ip_address' is not in the feed's header" in health.detail
