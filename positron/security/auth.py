"""API keys: generated at random, shown once, stored only as hashes, with optional expiry.

A key is ``pos_`` + 43 URL-safe characters (32 random bytes). What is stored is ``sha256:<hex>`` of the whole key,
in the config (``api_keys: [{principal, groups, key_hash, expires}]``) or in a keys file with one JSON object a
line (``positron keys create`` prints both forms)::

    {"principal": "alice", "groups": ["soc-analysts"], "key_hash": "sha256:…", "expires": "2026-03-01T00:00:00Z"}

Revocation is removing the line and reloading (SIGHUP or ``POST /v1/admin/reload``). Keys are high-entropy, so a
fast hash is enough (a slow password hash protects guessable passwords, not 256 random bits). Verification hashes
the presented token and looks the digest up: the caller controls the token but not its SHA-256, so the lookup's
timing says nothing about stored hashes, and the final comparison is ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from positron.errors import AuthenticationFailed, ConfigError

KEY_PREFIX = "pos_"
KEY_BYTES = 32
HASH_PATTERN = r"^sha256:[0-9a-f]{64}$"
INVALID = "invalid or missing API key"  # the only thing a caller learns, whatever the reason
_DURATION = re.compile(r"^(\d{1,5})([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the name from the key and the groups the key carries."""

    name: str
    groups: tuple[str, ...] = ()

    @property
    def subjects(self) -> tuple[str, ...]:
        """The names the access policy may grant to: the principal, then its groups."""
        return (self.name, *self.groups)


class KeyEntry(BaseModel):
    """One stored key: a line of the keys file, or an ``api_keys`` entry in the config after hashing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    principal: str = Field(min_length=1, max_length=128)
    groups: tuple[str, ...] = ()
    key_hash: str = Field(pattern=HASH_PATTERN, description="sha256:<hex> of the key")
    expires: AwareDatetime | None = None


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str
    entry: KeyEntry


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def parse_expiry(raw: str | None, now: datetime | None = None) -> datetime | None:
    """``90d``, ``12h``, ``30m`` from now, or an RFC 3339 time (UTC when it has no zone)."""
    if raw is None:
        return None
    now = now or datetime.now(UTC)
    if match := _DURATION.match(raw.strip()):
        return (now + timedelta(**{_UNITS[match[2]]: int(match[1])})).replace(microsecond=0)
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"expected a duration (90d, 12h, 30m) or an RFC 3339 time; got {raw!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def create_key(principal: str, groups: Iterable[str] = (), expires: datetime | None = None) -> NewKey:
    key = generate_key()
    return NewKey(key, KeyEntry(principal=principal, groups=tuple(groups), key_hash=hash_key(key), expires=expires))


def key_line(entry: KeyEntry) -> str:
    """The keys-file line for an entry."""
    data: dict[str, Any] = {"principal": entry.principal, "groups": list(entry.groups), "key_hash": entry.key_hash}
    if entry.expires is not None:
        data["expires"] = entry.expires.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(data)


def read_keys_file(path: Path) -> list[KeyEntry]:
    """Parse a keys file: one JSON object a line; blank lines and ``#`` comments are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read keys file {path}: {exc.strerror}") from None
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            entries.append(KeyEntry.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            what = "not a JSON object" if isinstance(exc, json.JSONDecodeError) else _first_error(exc)
            raise ConfigError(f"{path}:{number}: {what}") from None
    return entries


def _first_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    return ".".join(str(p) for p in first["loc"]) + ": " + first["msg"]


@dataclass(slots=True)
class KeyStore:
    """The known keys by hash. Built whole and swapped on reload; never holds a key in clear."""

    _by_hash: dict[str, KeyEntry] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: Iterable[KeyEntry]) -> KeyStore:
        store = cls()
        for entry in entries:
            if entry.key_hash in store._by_hash:
                raise ConfigError(f"two API key entries have the same key (principal {entry.principal!r})")
            store._by_hash[entry.key_hash] = entry
        return store

    def __len__(self) -> int:
        return len(self._by_hash)

    def authenticate(self, token: str | None, now: datetime | None = None) -> Principal:
        """The principal of a valid, unexpired key; else AuthenticationFailed saying only "invalid"."""
        if not token or len(token) > 256:
            raise AuthenticationFailed(INVALID)
        entry = find_by_secret(self._by_hash, token, INVALID, now)
        return Principal(entry.principal, entry.groups)


class _Expiring(Protocol):
    @property
    def expires(self) -> datetime | None: ...


E = TypeVar("E", bound=_Expiring)


def find_by_secret(by_hash: Mapping[str, E], secret: str, invalid: str, now: datetime | None = None) -> E:
    """The entry stored under the secret's hash (API keys, webhook tokens), unless it has expired; else
    AuthenticationFailed(``invalid``): an unknown and an expired secret look alike. The store holds digests only,
    so the lookup compares digests, never the secret."""
    entry = by_hash.get(hash_key(secret))
    if entry is None or (entry.expires is not None and entry.expires <= (now or datetime.now(UTC))):
        raise AuthenticationFailed(invalid)
    return entry


def new_key_text(new: NewKey) -> str:
    """What ``positron keys create`` prints: the key (once) and where its hash goes."""
    line = key_line(new.entry)
    return "\n".join(
        [
            f"API key for {new.entry.principal} (shown once, stored nowhere): {new.key}",
            "",
            "Append this line to the keys file (security.keys_file), then reload (kill -HUP or POST /v1/admin/reload):",
            line,
            "",
            "or add it to api_keys in the config file (JSON is YAML):",
            f"  - {line}",
        ]
    )
