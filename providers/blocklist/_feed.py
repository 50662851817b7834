"""A feed's settings and its life: the first load, refreshes with conditional requests, and the last good copy.

An HTTP(S) feed is fetched through ``positron.http`` with ``If-None-Match`` / ``If-Modified-Since`` from the last
good answer: 304 keeps the copy and only renews its age. A file feed is re-read when its size or modification
time changes. Any failure (an HTTP error, a timeout, a file that vanished, a body too large, a body in which no
line parses) keeps the last good copy serving and is reported in health with the copy's age.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from positron.queries import Verdict
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from yarl import URL

from positron.provider import HttpSource, ProviderError, Secret, raise_for_status

from ._index import ALL_KINDS, CsvLayout, EntryKind, FeedIndex, build, csv_entries, text_entries

log = logging.getLogger(__name__)

Column = str | int
RunSync = Callable[..., Awaitable[Any]]  # the provider's bounded worker threads (Provider.run_sync)


class FeedConfig(BaseModel):
    """One list: where it lives, how to read it, and what being on it means."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Names the feed in answers and health")
    url: str | None = Field(default=None, description="An http(s) URL to download the list from")
    path: Path | None = Field(default=None, description="A local file instead of a URL")
    format: Literal["text", "csv"] = "text"
    kinds: list[EntryKind] = Field(
        default_factory=lambda: sorted(ALL_KINDS),
        min_length=1,
        description="Which indicators the list holds: ip, domain, url",
    )
    verdict: Verdict = Field(default=Verdict.MALICIOUS, description="What a listed value is; harmless = allowlist")
    confidence: float = Field(default=0.9, ge=0.0, le=1.0, description="How sure a listing makes us")
    label: str | None = Field(default=None, description="Label for entries that carry none, e.g. spamhaus-drop")
    link: str | None = Field(default=None, description="Where a person can read about the list")
    comment: list[str] = Field(default_factory=lambda: ["#", ";"], description="Comment prefixes")
    value: Column = Field(default=0, description="csv: the indicator's column (name or index)")
    columns: list[str] | None = Field(default=None, description="csv: field names when the header is missing")
    label_column: Column | None = None
    link_column: Column | None = None
    seen_column: Column | None = Field(default=None, description="csv: when the entry was seen (UTC)")
    headers: dict[str, Secret] = Field(default_factory=dict, description="Extra request headers, e.g. an Auth-Key")
    refresh_s: float = Field(default=3600.0, gt=0, description="How often to check for a new copy")
    retry_s: float = Field(default=300.0, gt=0, description="How soon to try again after a failed refresh")
    max_age_s: float | None = Field(
        default=None, gt=0, description="Unhealthy when the copy is older (default 3 × refresh_s)"
    )
    fetch_timeout_s: float = Field(default=60.0, gt=0, le=600)
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=1, description="A larger download is refused")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = URL(value.strip())
        if url.scheme not in ("http", "https") or not url.host or url.user or url.password:
            raise ValueError("must be an http(s) URL with a host and no credentials (use headers for a key)")
        return str(url)

    @model_validator(mode="after")
    def _one_source(self) -> FeedConfig:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of url or path")
        return self

    @property
    def source(self) -> str:
        """Where the feed comes from, safe to show (a URL's host and path, never its query)."""
        if self.path is not None:
            return str(self.path)
        url = URL(self.url or "")
        return f"{url.scheme}://{url.host}{url.path}"


@dataclass(slots=True)
class Copy:
    index: FeedIndex
    checked_at: float  # monotonic: the last successful check (a 304 renews it)
    loaded_at: datetime  # wall clock: when this content was loaded
    etag: str | None = None
    last_modified: str | None = None
    file_stamp: tuple[int, int] | None = None  # (size, mtime_ns) of a file feed


@dataclass(slots=True)
class Feed:
    config: FeedConfig
    http: HttpSource | None = None
    copy: Copy | None = None
    error: str | None = None
    next_due: float = 0.0
    kinds: frozenset[EntryKind] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self.kinds = frozenset(self.config.kinds)
        if self.config.url is not None:
            self.http = HttpSource(
                self.config.url,
                label=f"feed {self.config.name} ({URL(self.config.url).host})",
                headers={k: v.get_secret_value() for k, v in self.config.headers.items()},
                timeout_s=self.config.fetch_timeout_s,
                max_connections=1,
            )

    def age_s(self) -> float | None:
        return None if self.copy is None else time.monotonic() - self.copy.checked_at

    def stale(self) -> bool:
        age = self.age_s()
        limit = self.config.max_age_s or 3 * self.config.refresh_s
        return age is None or age > limit

    def status(self) -> str:
        """One health line: entries, age, and the last error if the newest refresh failed."""
        name = self.config.name
        if self.copy is None:
            return f"{name}: not loaded ({self.error or 'not yet fetched'})"
        index = self.copy.index
        text = f"{name}: {len(index)} entries, age {self.age_s() or 0:.0f} s"
        if index.rejected:
            text += f", {index.rejected} lines rejected (first at line {index.rejected_lines[0]})"
        if self.error:
            text += f"; serving the last good copy, refresh failed: {self.error}"
        return text


async def refresh(feed: Feed, run_sync: RunSync) -> None:
    """Check the feed once; on success swap in the new copy, on failure keep the old one and record why."""
    started = time.monotonic()
    try:
        await (_refresh_http(feed, run_sync) if feed.http is not None else _refresh_file(feed, run_sync))
    except (ProviderError, OSError, ValueError, UnicodeError) as exc:
        feed.error = exc.message if isinstance(exc, ProviderError) else f"{type(exc).__name__}: {_safe(exc)}"
        feed.next_due = time.monotonic() + min(feed.config.retry_s, feed.config.refresh_s)
        log.warning("blocklist feed %s: refresh failed: %s", feed.config.name, feed.error)
        return
    feed.error = None
    feed.next_due = started + feed.config.refresh_s


async def _refresh_http(feed: Feed, run_sync: RunSync) -> None:
    assert feed.http is not None and feed.config.url is not None
    headers = {}
    if feed.copy is not None and feed.copy.etag:
        headers["If-None-Match"] = feed.copy.etag
    if feed.copy is not None and feed.copy.last_modified:
        headers["If-Modified-Since"] = feed.copy.last_modified
    response = await feed.http.get(feed.config.url, headers=headers)
    if response.status == 304 and feed.copy is not None:
        feed.copy.checked_at = time.monotonic()
        return
    raise_for_status(response)
    if response.status != 200:
        raise ValueError(f"HTTP {response.status} is not a feed")
    if len(response.body) > feed.config.max_bytes:
        raise ValueError(f"the feed is larger than max_bytes ({feed.config.max_bytes})")
    index = await run_sync(_parse, feed.config, response.body)
    feed.copy = Copy(
        index, time.monotonic(), datetime.now(UTC), response.headers.get("ETag"), response.headers.get("Last-Modified")
    )


async def _refresh_file(feed: Feed, run_sync: RunSync) -> None:
    assert feed.config.path is not None
    path = feed.config.path
    stat = await asyncio.to_thread(path.stat)
    stamp = (stat.st_size, stat.st_mtime_ns)
    if feed.copy is not None and feed.copy.file_stamp == stamp:
        feed.copy.checked_at = time.monotonic()
        return
    if stat.st_size > feed.config.max_bytes:
        raise ValueError(f"the file is larger than max_bytes ({feed.config.max_bytes})")
    body = await asyncio.to_thread(path.read_bytes)
    index = await run_sync(_parse, feed.config, body)
    feed.copy = Copy(index, time.monotonic(), datetime.now(UTC), file_stamp=stamp)


def _parse(config: FeedConfig, body: bytes) -> FeedIndex:
    """The feed's text as an index (in a worker thread). A non-empty feed in which nothing parses is an error:
    it is far more likely an error page or a changed format than an empty list."""
    text = body.decode("utf-8", errors="replace")
    prefixes = tuple(config.comment)
    kinds = frozenset(config.kinds)
    if config.format == "csv":
        layout = CsvLayout(
            config.value,
            tuple(config.columns) if config.columns else None,
            config.label_column,
            config.link_column,
            config.seen_column,
        )
        entries = csv_entries(text, prefixes, layout)
        index = build(entries, kinds)
    else:
        index = build(((n, token, None) for n, token in text_entries(text, prefixes, kinds)), kinds)
    if index.entries == 0 and index.rejected > 0:
        raise ValueError(f"no line of the feed is a valid entry (first bad line {index.rejected_lines[0]})")
    return index


def _safe(exc: Exception) -> str:
    """An exception's message, cut short (file and parse errors carry no secrets; HTTP errors are not shown raw)."""
    return str(exc)[:200]
