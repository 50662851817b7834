"""Static inventory: CSV or JSON lookup tables that teams keep for assets, people and local indicator lists.

Files (each optional; CSV with a header row, or JSON: a list of objects):
  hosts       hostname, ip, mac, updated, and optionally owner, os, platform, serial_number, manufacturer, model,
              site                                   → IP_TO_HOSTNAME, HOSTNAME_TO_IP, IP_TO_MAC, HOST_INFO,
                                                       HOST_USER (the owner, at ``owner_confidence``)
  users       username, display_name, email, title, department, company, location, phone, enabled, manager,
              groups (";"-separated), updated        → USER_INFO, USER_MANAGER, USER_GROUPS
  indicators  value, verdict, label, link, updated   → HASH_REPUTATION, IP_REPUTATION, DOMAIN_REPUTATION
Files are re-read when they change. ``updated`` (ISO 8601: when the row was last verified) becomes observed_at
and valid_from (valid since then, no known end: it says nothing about earlier times); without it, observed_at is
the file's mtime.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from positron.queries import (
    DOMAIN_REPUTATION,
    HASH_REPUTATION,
    HOST_INFO,
    HOST_USER,
    HOSTNAME_TO_IP,
    IP_REPUTATION,
    IP_TO_HOSTNAME,
    IP_TO_MAC,
    USER_GROUPS,
    USER_INFO,
    USER_MANAGER,
)
from positron.queries.models import HostInfo, Person, Reputation, UserInfo, Verdict
from pydantic import Field

from positron.provider import (
    Answer,
    Health,
    InvalidInput,
    Lookup,
    Provider,
    ProviderConfig,
    ProviderUnavailable,
    answers,
    normalize_domain,
    normalize_hash,
    normalize_hostname,
    normalize_ip,
    normalize_mac,
    normalize_username,
)

Row = dict[str, str]


class StaticInventoryConfig(ProviderConfig):
    hosts: Path | None = Field(default=None, description="CSV/JSON: hostname, ip, mac, updated")
    users: Path | None = Field(default=None, description="CSV/JSON: username, display_name, email, manager, ...")
    indicators: Path | None = Field(default=None, description="CSV/JSON: value, verdict, label, link")
    confidence: float = Field(default=0.9, ge=0, le=1, description="How sure the inventory is of its rows")
    owner_confidence: float = Field(
        default=0.5, ge=0, le=1, description="HOST_USER from a host's owner: an owner is not always the one logged on"
    )
    reload_interval_s: float = Field(default=5.0, ge=0, description="How often to check the files for changes")


@dataclass(slots=True)
class _Table:
    path: Path
    rows: list[Row] = field(default_factory=list)
    mtime: float = -1.0
    checked: float = 0.0
    indexes: dict[str, dict[str, list[Row]]] = field(default_factory=dict)  # by column:normalizer

    def index(self, column: str, normalizer: Callable[[str], str]) -> dict[str, list[Row]]:
        """Rows by the normalized value of ``column``, built once per load."""
        slot = f"{column}:{normalizer.__name__}"
        if slot not in self.indexes:
            built: dict[str, list[Row]] = {}
            for row in self.rows:
                if (key := _canon(normalizer, row.get(column, ""))) is not None:
                    built.setdefault(key, []).append(row)
            self.indexes[slot] = built
        return self.indexes[slot]


def _read_rows(path: Path) -> list[Row]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError("a JSON table is a list of objects")
        return [{str(k): "" if v is None else str(v) for k, v in row.items()} for row in data]
    return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(text.splitlines())]


def _updated(row: Row) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(row.get("updated", ""))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _short_name(raw: str) -> str:
    return normalize_hostname(raw).split(".", 1)[0]


def _host_info(row: Row) -> HostInfo:
    def text(name: str) -> str | None:
        return (row.get(name) or "").strip() or None

    return HostInfo(
        hostname=normalize_hostname(row["hostname"]),
        os=text("os"),
        platform=text("platform"),
        ip=_canon(normalize_ip, row.get("ip", "")),
        mac=_canon(normalize_mac, row.get("mac", "")),
        serial_number=text("serial_number"),
        manufacturer=text("manufacturer"),
        model=text("model"),
        owner=_canon(normalize_username, row.get("owner", "")),
        site=text("site"),
    )


def _canon(normalizer: Callable[[str], str], raw: str) -> str | None:
    try:
        return normalizer(raw)
    except InvalidInput:
        return None


class StaticInventory(Provider[StaticInventoryConfig]):
    type_name = "static_inventory"
    Config: ClassVar[type[ProviderConfig]] = StaticInventoryConfig

    _FILES: ClassVar[dict[str, tuple[str, ...]]] = {
        "hosts": ("IP_TO_HOSTNAME", "HOSTNAME_TO_IP", "IP_TO_MAC", "HOST_INFO", "HOST_USER"),
        "users": ("USER_INFO", "USER_MANAGER", "USER_GROUPS"),
        "indicators": ("HASH_REPUTATION", "IP_REPUTATION", "DOMAIN_REPUTATION"),
    }

    def __init__(self, name: str, config: StaticInventoryConfig) -> None:
        super().__init__(name, config)
        self._tables = {kind: _Table(path) for kind in self._FILES if (path := getattr(config, kind)) is not None}

    def serves(self) -> list[str]:
        return [q for q in super().serves() if any(q in self._FILES[kind] for kind in self._tables)]

    async def open(self) -> None:
        for kind in self._tables:
            await self._rows(kind)

    async def health(self) -> Health:
        try:
            counts = {kind: len(await self._rows(kind)) for kind in self._tables}
        except ProviderUnavailable as exc:
            return Health(False, exc.message)
        return Health(True, ", ".join(f"{n} {kind}" for kind, n in counts.items()))

    async def _rows(self, kind: str) -> list[Row]:
        table = self._tables[kind]
        now = time.monotonic()
        if table.mtime >= 0 and now - table.checked < self.config.reload_interval_s:
            return table.rows
        table.checked = now
        try:
            mtime = table.path.stat().st_mtime
            if mtime != table.mtime:
                table.rows = await self.run_sync(_read_rows, table.path)
                table.mtime, table.indexes = mtime, {}
        except (OSError, ValueError, csv.Error) as exc:
            raise ProviderUnavailable(f"cannot read {kind} table {table.path}: {type(exc).__name__}") from None
        return table.rows

    def _answer(self, value: Any, row: Row, kind: str) -> Answer[Any]:
        """A row is a fact last verified at ``updated`` (valid from then, no known end); a row without it is
        only known to be in the file (observed at the file's mtime, no interval)."""
        table = self._tables[kind]
        updated = _updated(row)
        observed = updated or datetime.fromtimestamp(table.mtime, UTC)
        return Answer(value, self.config.confidence, observed, table.path.name, valid_from=updated)

    async def _match(self, kind: str, column: str, normalizer: Callable[[str], str], value: str) -> list[Row]:
        await self._rows(kind)
        return self._tables[kind].index(column, normalizer).get(value, [])

    @answers(IP_TO_HOSTNAME)
    async def ip_to_hostname(self, lookup: Lookup) -> list[Answer[str]]:
        rows = await self._match("hosts", "ip", normalize_ip, lookup.value)
        return [self._answer(normalize_hostname(r["hostname"]), r, "hosts") for r in rows if r.get("hostname")]

    async def _hosts_named(self, hostname: str) -> list[Row]:
        wanted = {hostname, hostname.split(".", 1)[0]}
        return [
            r
            for r in await self._rows("hosts")
            if (h := _canon(normalize_hostname, r.get("hostname", ""))) and (h in wanted or h.split(".")[0] == hostname)
        ]

    @answers(HOSTNAME_TO_IP)
    async def hostname_to_ip(self, lookup: Lookup) -> list[Answer[str]]:
        rows = await self._hosts_named(lookup.value)
        return [self._answer(normalize_ip(r["ip"]), r, "hosts") for r in rows if _canon(normalize_ip, r.get("ip", ""))]

    @answers(HOST_INFO)
    async def host_info(self, lookup: Lookup) -> list[Answer[HostInfo]]:
        return [self._answer(_host_info(r), r, "hosts") for r in await self._hosts_named(lookup.value)]

    @answers(HOST_USER)
    async def host_user(self, lookup: Lookup) -> list[Answer[str]]:
        found = []
        for row in await self._hosts_named(lookup.value):
            if owner := _canon(normalize_username, row.get("owner", "")):
                answer = self._answer(owner, row, "hosts")
                found.append(Answer(owner, self.config.owner_confidence, answer.observed_at, answer.source_ref))
        return found

    @answers(IP_TO_MAC)
    async def ip_to_mac(self, lookup: Lookup) -> list[Answer[str]]:
        rows = await self._match("hosts", "ip", normalize_ip, lookup.value)
        return [self._answer(mac, r, "hosts") for r in rows if (mac := _canon(normalize_mac, r.get("mac", "")))]

    async def _user(self, username: str) -> Row | None:
        """By username, then email; a UPN (``jdoe@corp.example``) that is no one's email finds ``jdoe``."""
        await self._rows("users")
        table = self._tables["users"]
        by_name, by_email = table.index("username", str.casefold), table.index("email", str.casefold)
        account = username.split("@", 1)[0]
        found = by_name.get(username) or by_email.get(username) or by_name.get(account)
        return found[0] if found else None

    @staticmethod
    def _user_info(row: Row) -> UserInfo:
        fields = ("display_name", "email", "title", "department", "company", "location", "phone", "manager")
        enabled = row.get("enabled", "").strip().lower()
        return UserInfo(
            username=row["username"].casefold(),
            enabled=None if not enabled else enabled in {"1", "true", "yes", "y"},
            **{f: row.get(f) or None for f in fields},
        )

    @answers(USER_INFO)
    async def user_info(self, lookup: Lookup) -> list[Answer[UserInfo]]:
        row = await self._user(lookup.value)
        return [] if row is None else [self._answer(self._user_info(row), row, "users")]

    @answers(USER_MANAGER)
    async def user_manager(self, lookup: Lookup) -> list[Answer[Person]]:
        row = await self._user(lookup.value)
        manager = row and row.get("manager", "").casefold()
        boss = await self._user(manager) if manager else None
        if row is None or not manager:
            return []
        person = Person(
            username=manager,
            display_name=(boss or {}).get("display_name") or None,
            email=(boss or {}).get("email") or None,
            title=(boss or {}).get("title") or None,
        )
        return [self._answer(person, row, "users")]

    @answers(USER_GROUPS)
    async def user_groups(self, lookup: Lookup) -> list[Answer[list[str]]]:
        row = await self._user(lookup.value)
        groups = [g.strip() for g in (row or {}).get("groups", "").split(";") if g.strip()]
        return [self._answer(groups, row, "users")] if row and groups else []

    async def _indicator(self, normalizer: Callable[[str], str], value: str) -> list[Answer[Reputation]]:
        found = []
        for row in await self._match("indicators", "value", normalizer, value):
            try:
                verdict = Verdict(row.get("verdict", "unknown").strip().lower())
            except ValueError:
                continue
            counts = {verdict.value: 1} if verdict is not Verdict.UNKNOWN else {}
            rep = Reputation(
                verdict=verdict, total=1, label=row.get("label") or None, link=row.get("link") or None, **counts
            )
            found.append(self._answer(rep, row, "indicators"))
        return found

    @answers(HASH_REPUTATION)
    async def hash_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        return await self._indicator(normalize_hash, lookup.value)

    @answers(IP_REPUTATION)
    async def ip_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        return await self._indicator(normalize_ip, lookup.value)

    @answers(DOMAIN_REPUTATION)
    async def domain_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        return await self._indicator(normalize_domain, lookup.value)
