"""DHCP leases: which host held an IP address, read from ISC dhcpd and Kea memfile lease files.

Each configured file is checked at most every ``reload_interval_s`` and re-read (incrementally when it only
grew) in a worker thread; lookups are dict and bisect operations on the in-memory index (see ``_leases``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import anyio
from positron.providers.dhcp._leases import Format, Lease, LeaseIndex
from positron.providers.dhcp._source import LeaseSource
from positron.queries.network import HOSTNAME_TO_IP, IP_TO_HOSTNAME, IP_TO_MAC
from pydantic import BaseModel, ConfigDict, Field, field_validator

from positron.provider import Answer, Health, Lookup, Provider, ProviderConfig, ProviderUnavailable, answers

CONFIDENCE = 0.95


class LeaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(description="A dhcpd.leases or kea-leases4.csv file")
    format: Format | None = Field(default=None, description="isc or kea; guessed from the first line if omitted")


class DhcpLeasesConfig(ProviderConfig):
    files: list[LeaseFile] = Field(min_length=1, description="Lease files; each answers on its own")
    domain: str | None = Field(default=None, description="Appended to short client host names, e.g. corp.example")
    reload_interval_s: float = Field(default=5.0, ge=0, description="How often to check the files for changes")

    @field_validator("domain")
    @classmethod
    def _normalize_domain(cls, value: str | None) -> str | None:
        return value.strip().strip(".").lower() or None if value else None


class DhcpLeases(Provider[DhcpLeasesConfig]):
    """Answers from the leases in local ISC dhcpd / Kea lease files."""

    type_name = "dhcp_leases"
    Config: ClassVar[type[ProviderConfig]] = DhcpLeasesConfig

    def __init__(self, name: str, config: DhcpLeasesConfig) -> None:
        super().__init__(name, config)
        self._sources = [LeaseSource(f.path, f.format) for f in config.files]
        self._checked = -math.inf
        self._lock = anyio.Lock()

    async def open(self) -> None:
        await self._refresh(force=True)  # a missing file is reported by health() and by queries

    async def _refresh(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._checked < self.config.reload_interval_s:
            return
        if self._lock.locked() and not force and all(s.index is not None and not s.error for s in self._sources):
            return  # another task is reloading: answer from the current index meanwhile
        async with self._lock:
            if force or time.monotonic() - self._checked >= self.config.reload_interval_s:
                await self.run_sync(self._reload)
                self._checked = time.monotonic()

    def _reload(self) -> None:
        for source in self._sources:
            source.refresh()

    async def _indexes(self, *, force: bool = False) -> list[tuple[str, LeaseIndex]]:
        await self._refresh(force=force)
        for source in self._sources:
            if source.error or source.index is None:
                raise ProviderUnavailable(source.error or f"cannot read {source.path}")
        return [(s.path.name, s.index) for s in self._sources if s.index is not None]

    async def health(self) -> Health:
        try:
            indexes = await self._indexes(force=True)
        except ProviderUnavailable as exc:
            return Health(ok=False, detail=exc.message)
        records = sum(index.records for _, index in indexes)
        skipped = sum(index.skipped for _, index in indexes)
        age = max(0.0, time.time() - max(s.mtime for s in self._sources))
        return Health(
            ok=True,
            detail=f"{records} lease records in {len(indexes)} file(s), {skipped} corrupt skipped; "
            f"newest file changed {age:.0f} s ago",
        )

    async def _leases(self, lookup: Lookup) -> list[tuple[str, Lease]]:
        at = lookup.at.timestamp() if lookup.at is not None else None
        now = time.time()
        found = []
        for name, index in await self._indexes():
            lease = index.lease_at(lookup.value, at, now)
            if lease is not None:
                found.append((name, lease))
        return found

    def _hostname(self, host: str) -> str:
        domain = self.config.domain
        return f"{host}.{domain}" if domain and "." not in host else host

    def _matches(self, host: str, wanted: str) -> bool:
        """``wanted`` (normalized) names the lease's host: equal, or one is the short form of the other."""
        if host == wanted:
            return True
        if host.partition(".")[0] != wanted.partition(".")[0]:
            return False
        if "." in host:
            return "." not in wanted  # the lease has an FQDN, the question its first label
        return "." not in wanted or self.config.domain is None or wanted == f"{host}.{self.config.domain}"

    @answers(IP_TO_HOSTNAME)
    async def ip_to_hostname(self, lookup: Lookup) -> list[Answer[str]]:
        return _answers(
            (self._hostname(lease.host), name, lease) for name, lease in await self._leases(lookup) if lease.host
        )

    @answers(IP_TO_MAC)
    async def ip_to_mac(self, lookup: Lookup) -> list[Answer[str]]:
        return _answers((lease.mac, name, lease) for name, lease in await self._leases(lookup) if lease.mac)

    @answers(HOSTNAME_TO_IP)
    async def hostname_to_ip(self, lookup: Lookup) -> list[Answer[str]]:
        at = lookup.at.timestamp() if lookup.at is not None else None
        now = time.time()
        short = lookup.value.partition(".")[0]
        found = []
        for name, index in await self._indexes():
            for ip in index.ips_of(short):
                lease = index.lease_at(ip, at, now)
                if lease is not None and lease.host and self._matches(lease.host, lookup.value):
                    found.append((ip, name, lease))
        return _answers(found)


def _answers(found: Iterable[tuple[str | None, str, Lease]]) -> list[Answer[str]]:
    """One answer per value (the most recently observed), newest first; valid over the lease's [start, end),
    its end already cut short by a release (``valid_to`` None: a lease that never expires)."""
    best: dict[str, Answer[str]] = {}
    for value, name, lease in sorted(found, key=lambda item: -item[2].observed):
        if value and value not in best:
            best[value] = Answer(
                value=value,
                confidence=CONFIDENCE,
                observed_at=datetime.fromtimestamp(lease.observed, UTC),
                source_ref=f"{name}:{lease.line}",
                valid_from=datetime.fromtimestamp(lease.start, UTC),
                valid_to=datetime.fromtimestamp(max(lease.end, lease.start), UTC) if lease.end != math.inf else None,
            )
    return list(best.values())


__all__ = ["CONFIDENCE", "DhcpLeases", "DhcpLeasesConfig", "LeaseFile"]
