"""One feed's entries, parsed and indexed for lookup.

IP addresses and CIDR ranges go into two Patricia tries (``pytricia``, a C extension; one trie for IPv4, one for
IPv6), so a lookup is one longest-prefix match however many ranges overlap. Entries are parsed with
``socket.inet_pton`` (strict, in C) and handed to the trie as packed bytes with their prefix length: pytricia's own
string parsing accepts ``1.2.3.4/33`` and fails oddly on ``1.2.3``, so it never sees a string. Host bits set under
a prefix (``10.1.2.3/8``) are cleared, as ``ipaddress.ip_network(strict=False)`` would.

Domains are a dict: a lookup tries the name, then each parent (``a.b.evil.example`` → ``b.evil.example`` →
``evil.example`` → ``example``), the most specific listed one wins. URLs are a dict of normalized URLs
(``positron.inputs.normalize_url``), so a feed's ``hxxp://`` or upper-case spelling still matches.

Parsing is plain CPU work: the provider runs it in a worker thread and swaps the finished index in whole, so a
lookup always sees one complete copy of a feed.
"""

from __future__ import annotations

import csv
import io
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pytricia

from positron.provider import InvalidInput, normalize_domain, normalize_url

EntryKind = Literal["ip", "domain", "url"]
ALL_KINDS: frozenset[EntryKind] = frozenset({"ip", "domain", "url"})
HOSTS_FILE_SINKS = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1"})  # "0.0.0.0 evil.example" lists evil.example
MAX_REJECTED_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Detail:
    """What a CSV row says beyond the indicator itself; plain-text entries have none (the feed's settings apply)."""

    label: str | None = None
    link: str | None = None
    seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class Match:
    entry: str  # the listed entry that matched: a CIDR, a (parent) domain or a URL
    detail: Detail | None


@dataclass(slots=True)
class FeedIndex:
    v4: Any = field(default_factory=lambda: pytricia.PyTricia(32))
    v6: Any = field(default_factory=lambda: pytricia.PyTricia(128))
    domains: dict[str, Detail | None] = field(default_factory=dict)
    urls: dict[str, Detail | None] = field(default_factory=dict)
    entries: int = 0
    rejected: int = 0
    rejected_lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return self.entries

    # --- building ---

    def add(self, token: str, detail: Detail | None, kinds: frozenset[EntryKind], line: int) -> None:
        """Index one entry as the first of ``kinds`` it parses as; count it as rejected otherwise."""
        if ("ip" in kinds and self._add_ip(token, detail)) or self._add_name(token, detail, kinds):
            self.entries += 1
            return
        self.rejected += 1
        if len(self.rejected_lines) < MAX_REJECTED_SHOWN:
            self.rejected_lines.append(line)

    def _add_ip(self, token: str, detail: Detail | None) -> bool:
        parsed = parse_cidr(token)
        if parsed is None:
            return False
        packed, length = parsed
        (self.v4 if len(packed) == 4 else self.v6).insert(packed, length, detail)
        return True

    def _add_name(self, token: str, detail: Detail | None, kinds: frozenset[EntryKind]) -> bool:
        try:
            if "://" in token or "/" in token:
                if "url" not in kinds:
                    return False
                self.urls[normalize_url(token)] = detail
            elif "domain" in kinds:
                self.domains[normalize_domain(token)] = detail
            else:
                return False
        except InvalidInput:
            return False
        return True

    # --- lookups ---

    def match_ip(self, address: str) -> Match | None:
        packed = _pack(address)
        if packed is None:
            return None
        trie = self.v4 if len(packed) == 4 else self.v6
        key = trie.get_key(packed)
        return None if key is None else Match(key, trie[key])

    def match_domain(self, name: str) -> Match | None:
        labels = name.split(".")
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            if candidate in self.domains:
                return Match(candidate, self.domains[candidate])
        return None

    def match_url(self, url: str) -> Match | None:
        return Match(url, self.urls[url]) if url in self.urls else None


def _pack(address: str) -> bytes | None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        return socket.inet_pton(family, address)
    except OSError:
        return None


def parse_cidr(token: str) -> tuple[bytes, int] | None:
    """``10.1.0.0/16`` → (packed network, 16); a bare address is a /32 or /128; None if it is not one."""
    address, slash, length_text = token.partition("/")
    packed = _pack(address)
    if packed is None:
        return None
    bits = len(packed) * 8
    if not slash:
        return packed, bits
    if not length_text.isdigit() or int(length_text) > bits:
        return None
    length = int(length_text)
    if length < bits:
        value = int.from_bytes(packed, "big") >> (bits - length) << (bits - length)
        packed = value.to_bytes(len(packed), "big")
    return packed, length


# --- feed formats ---


def text_entries(
    text: str, comment_prefixes: tuple[str, ...], kinds: frozenset[EntryKind]
) -> Iterator[tuple[int, str]]:
    """(line number, entry) of a plain-text feed: one entry per line, full-line and trailing comments
    (``1.10.16.0/20 ; SBL256894``) dropped, the first word kept, hosts-file lines (``0.0.0.0 evil.example``) read as
    the name. A URL keeps ``#`` and ``;`` (they are part of URLs) unless they follow whitespace."""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(comment_prefixes):
            continue
        words = line.split()
        token = words[0]
        if token in HOSTS_FILE_SINKS and len(words) > 1 and "domain" in kinds:
            token = words[1]
        if "://" not in token:
            for prefix in comment_prefixes:
                token = token.split(prefix, 1)[0]
        if token:
            yield number, token


@dataclass(frozen=True, slots=True)
class CsvLayout:
    value: str | int
    columns: tuple[str, ...] | None = None  # the field names when the file's header is missing or commented out
    label: str | int | None = None
    link: str | int | None = None
    seen: str | int | None = None


def csv_entries(
    text: str, comment_prefixes: tuple[str, ...], layout: CsvLayout
) -> Iterator[tuple[int, str, Detail | None]]:
    """(line number, entry, detail) of a CSV feed. Columns are named by index or by name; names come from
    ``layout.columns``, else from the header: the first data row, or the last comment line before it
    (abuse.ch comments its header out: ``# id,dateadded,url,...``)."""
    lines = text.splitlines()
    header, start = _header(lines, comment_prefixes, layout)
    positions = {key: _position(getattr(layout, key), header) for key in ("value", "label", "link", "seen")}
    data = (line for line in lines[start:])
    reader = csv.reader(data)
    for offset, row in enumerate(reader):
        number = start + offset + 1
        if not row or (row[0].lstrip().startswith(comment_prefixes)):
            continue
        value = _cell(row, positions["value"])
        if not value:
            continue
        detail = Detail(
            _cell(row, positions["label"]) or None,
            _cell(row, positions["link"]) or None,
            parse_seen(_cell(row, positions["seen"])),
        )
        yield number, value, (detail if detail != Detail() else None)


def _header(lines: list[str], prefixes: tuple[str, ...], layout: CsvLayout) -> tuple[list[str] | None, int]:
    """The column names and the index of the first line to read as data."""
    if layout.columns is not None:
        return list(layout.columns), 0
    if not any(isinstance(getattr(layout, k), str) for k in ("value", "label", "link", "seen")):
        return None, 0
    last_comment: list[str] | None = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(prefixes):
            body = stripped.lstrip("".join(prefixes)).strip()
            if "," in body:
                last_comment = _row(body)
            continue
        first = _row(stripped)
        if isinstance(layout.value, str) and layout.value in first:
            return first, i + 1
        return last_comment, i
    return last_comment, len(lines)


def _row(line: str) -> list[str]:
    return [cell.strip() for cell in next(csv.reader(io.StringIO(line)), [])]


def _position(column: str | int | None, header: list[str] | None) -> int | None:
    if column is None or isinstance(column, int):
        return column
    if header is None or column not in header:
        raise ValueError(f"column {column!r} is not in the feed's header")
    return header.index(column)


def _cell(row: list[str], position: int | None) -> str:
    if position is None or position >= len(row):
        return ""
    return row[position].strip()


def parse_seen(text: str) -> datetime | None:
    """``2026-11-20 12:00:00`` (abuse.ch, UTC), ISO 8601, or epoch seconds; anything else is no time."""
    if not text:
        return None
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build(entries: Iterable[tuple[int, str, Detail | None]], kinds: frozenset[EntryKind]) -> FeedIndex:
    index = FeedIndex()
    for number, token, detail in entries:
        index.add(token, detail, kinds, number)
    return index
