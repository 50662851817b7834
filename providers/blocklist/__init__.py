"""Blocklist feeds: IP_REPUTATION, DOMAIN_REPUTATION and URL_REPUTATION from published lists (Spamhaus DROP,
abuse.ch Feodo Tracker and URLhaus, FireHOL, a fail2ban or shared ban list, a local allowlist), as plain text or
CSV, from files or HTTP(S) URLs.

Lookups are in memory: IPs by longest-prefix match over IPv4 and IPv6 CIDR ranges (a Patricia trie, ``pytricia``),
domains by exact then parent-domain match, URLs by their normalized form (and, failing that, by their host). A
lookup value never leaves the process: the only outbound traffic is the download of each feed, which carries no
value. That is why a blocklist is ``egress: internal`` by default, even when its feeds come from the internet.

One answer per lookup sums what this instance's feeds say: the verdict of the most severe listing (a match in a
``verdict: harmless`` feed, an allowlist, overrides the others of this instance), ``malicious``/``suspicious``/
``harmless`` = the feeds listing it with that verdict, ``total`` = the feeds consulted, the matched entries as
``source_ref`` (``spamhaus_drop:1.10.16.0/20``). Not being listed is no data, not "harmless".
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from positron.queries import DOMAIN_REPUTATION, IP_REPUTATION, URL_REPUTATION, Reputation, Verdict
from pydantic import Field, field_validator

from positron.provider import (
    Answer,
    Health,
    Lookup,
    Provider,
    ProviderConfig,
    ProviderUnavailable,
    answers,
    url_host,
)

from ._feed import Feed, FeedConfig, refresh
from ._index import EntryKind, FeedIndex, Match

log = logging.getLogger(__name__)

PARENT_DOMAIN_FACTOR = 0.9  # a listed parent domain says a little less about one of its names
URL_HOST_FACTOR = 0.8  # a listed host says less about one URL on it than a listing of the URL itself
_SEVERITY = {Verdict.MALICIOUS: 3, Verdict.SUSPICIOUS: 2, Verdict.HARMLESS: 1, Verdict.UNKNOWN: 0}


class BlocklistConfig(ProviderConfig):
    feeds: list[FeedConfig] = Field(min_length=1, description="The lists, asked in this order")
    cache_ttl_s: float | None = Field(
        default=60.0, ge=0, description="Lookups are in memory: cache briefly so a refreshed feed shows soon"
    )

    @field_validator("feeds")
    @classmethod
    def _unique_names(cls, feeds: list[FeedConfig]) -> list[FeedConfig]:
        names = [f.name for f in feeds]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"feed names must be unique; repeated: {', '.join(duplicates)}")
        return feeds


class _Hit:
    """One feed's listing of the value."""

    __slots__ = ("feed", "match", "confidence")

    def __init__(self, feed: Feed, match: Match, confidence: float) -> None:
        self.feed, self.match, self.confidence = feed, match, confidence


class Blocklist(Provider[BlocklistConfig]):
    type_name: ClassVar[str] = "blocklist"
    Config: ClassVar[type[ProviderConfig]] = BlocklistConfig

    def __init__(self, name: str, config: BlocklistConfig) -> None:
        super().__init__(name, config)
        self.feeds = [Feed(f) for f in config.feeds]
        self._refresher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Open the HTTP sources, load every feed once (failures are reported, not raised), start refreshing."""
        for feed in self.feeds:
            if feed.http is not None:
                await feed.http.open()
        await asyncio.gather(*(refresh(feed, self.run_sync) for feed in self.feeds))
        self._refresher = asyncio.create_task(self._refresh_forever(), name=f"blocklist {self.name} refresh")

    async def aclose(self) -> None:
        task, self._refresher = self._refresher, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for feed in self.feeds:
            if feed.http is not None:
                await feed.http.aclose()

    async def health(self) -> Health:
        """Healthy when every feed has a copy younger than its ``max_age_s``; the detail gives each feed's age."""
        ok = all(feed.copy is not None and not feed.stale() for feed in self.feeds)
        return Health(ok=ok, detail="; ".join(feed.status() for feed in self.feeds))

    async def refresh_now(self) -> None:
        """Check every feed at once (used at start and by tests; the schedule does the rest)."""
        await asyncio.gather(*(refresh(feed, self.run_sync) for feed in self.feeds))

    async def _refresh_forever(self) -> None:
        while True:
            due = min(feed.next_due for feed in self.feeds)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            now = time.monotonic()
            await asyncio.gather(*(refresh(f, self.run_sync) for f in self.feeds if f.next_due <= now))

    # --- queries ---

    @answers(IP_REPUTATION)
    async def ip_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        return self._answer(*self._hits("ip", lambda index: index.match_ip(lookup.value)))

    @answers(DOMAIN_REPUTATION)
    async def domain_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        hits, consulted = self._hits("domain", lambda index: index.match_domain(lookup.value))
        for hit in hits:
            if hit.match.entry != lookup.value:
                hit.confidence *= PARENT_DOMAIN_FACTOR
        return self._answer(hits, consulted)

    @answers(URL_REPUTATION)
    async def url_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        """The URL itself if a feed lists it, else its host (an address or a domain and its parents)."""
        hits, consulted = self._hits("url", lambda index: index.match_url(lookup.value))
        if hits:
            return self._answer(hits, consulted)
        host = url_host(lookup.value)
        if _is_ip(host):
            hits, consulted = self._hits("ip", lambda index: index.match_ip(host))
        else:
            hits, consulted = self._hits("domain", lambda index: index.match_domain(host))
        for hit in hits:
            hit.confidence *= URL_HOST_FACTOR
        return self._answer(hits, consulted)

    def _hits(self, kind: EntryKind, match: Callable[[FeedIndex], Match | None]) -> tuple[list[_Hit], int]:
        """Each loaded feed of this kind that lists the value, and how many loaded feeds were consulted."""
        relevant = [feed for feed in self.feeds if kind in feed.kinds]
        loaded = [feed for feed in relevant if feed.copy is not None]
        if relevant and not loaded:
            raise ProviderUnavailable(f"{self.name}: no {kind} feed is loaded yet")
        hits = []
        for feed in loaded:
            assert feed.copy is not None
            if (found := match(feed.copy.index)) is not None:
                hits.append(_Hit(feed, found, feed.config.confidence))
        return hits, len(loaded)

    def _answer(self, hits: list[_Hit], consulted: int) -> list[Answer[Reputation]]:
        if not hits:
            return []
        allow = [h for h in hits if h.feed.config.verdict is Verdict.HARMLESS]
        deciding = allow or hits
        top = max(deciding, key=lambda h: (_SEVERITY[h.feed.config.verdict], h.confidence))
        verdicts = [h.feed.config.verdict for h in hits]
        reputation = Reputation(
            verdict=top.feed.config.verdict,
            malicious=verdicts.count(Verdict.MALICIOUS),
            suspicious=verdicts.count(Verdict.SUSPICIOUS),
            harmless=verdicts.count(Verdict.HARMLESS),
            undetected=max(0, consulted - len(hits)),
            total=consulted,
            label=_label(top),
            link=(top.match.detail.link if top.match.detail else None) or top.feed.config.link,
            allowlisted=bool(allow),
        )
        refs = ", ".join(f"{h.feed.config.name}:{h.match.entry}" for h in hits)
        return [Answer(reputation, top.confidence, _seen(top), refs)]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _label(hit: _Hit) -> str | None:
    detail = hit.match.detail
    return (detail.label if detail else None) or hit.feed.config.label or hit.feed.config.name


def _seen(hit: _Hit) -> datetime | None:
    """When the source saw it: the entry's own time (a CSV column), else when this copy of the feed was loaded."""
    if hit.match.detail is not None and hit.match.detail.seen is not None:
        return hit.match.detail.seen
    return hit.feed.copy.loaded_at if hit.feed.copy is not None else None


__all__ = ["Blocklist", "BlocklistConfig", "FeedConfig"]
