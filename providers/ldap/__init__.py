"""Active Directory / LDAP: who a user is (USER_INFO), their manager (USER_MANAGER), their groups (USER_GROUPS).

A user is found under ``base_dn`` with ``(&<user_filter>(<user_attribute>=jdoe))`` for a bare account, or
``(&<user_filter>(|(userPrincipalName=jdoe@corp.example)(mail=jdoe@corp.example)))`` for the @ form. Every value
put into a filter is escaped with ldap3's ``escape_filter_chars`` (DNs too), so the provider is safe on its own,
whatever the input normalizer lets through. ldap3 is synchronous: calls run in the provider's worker threads on
pooled SAFE_SYNC connections with failover across ``servers`` (see ``_directory``). Errors:

    connection refused / TLS failure                 → ProviderUnreachable (after trying every server; not retried)
    connection reset or lost                         → ProviderUnavailable
    no reply within receive_timeout_s                → ProviderTimeout (also a TLS handshake that never completes;
                                                       not retried by the engine: a hung DC costs one timeout)
    bind refused (invalidCredentials, …)             → ProviderAuthError "bind failed for server <url>: <code>"
    busy / unavailable / unwillingToPerform          → ProviderUnavailable;  timeLimitExceeded → ProviderTimeout
    base_dn missing, other result codes              → BadResponse
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import ClassVar, TypeVar

from positron.providers.ldap._config import LdapConfig
from positron.providers.ldap._directory import Directory, Entry, Session, md4_available, rdn_value
from positron.queries import USER_GROUPS, USER_INFO, USER_MANAGER, Person, UserInfo

from positron.provider import (
    Answer,
    ConfigError,
    Health,
    Lookup,
    Provider,
    ProviderConfig,
    ProviderError,
    ProviderUnavailable,
    answers,
)

T = TypeVar("T")
ACCOUNTDISABLE = 0x2  # the userAccountControl bit of a disabled account
NEVER = {0, 0x7FFFFFFFFFFFFFFF}  # accountExpires values that mean "never expires"
FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)  # accountExpires counts 100 ns ticks since then

UserQuery = Callable[[Directory, str, Session], list[Answer[T]]]  # runs in a worker thread


def _enabled(entry: Entry, expires: datetime | None) -> bool | None:
    """False when disabled (userAccountControl) or past accountExpires; AD keeps such an account's flags as
    they were, so the flags alone say an expired contractor is enabled."""
    if expires is not None and expires <= datetime.now(UTC):
        return False
    flags = entry.first("userAccountControl")
    if flags is None or not re.fullmatch(r"-?\d+", flags):
        return None
    return not int(flags) & ACCOUNTDISABLE


def _expires(entry: Entry) -> datetime | None:
    """accountExpires (AD: 100 ns ticks since 1601-01-01 UTC; 0 or 2**63-1: never) as a time, or None."""
    raw = entry.first("accountExpires")
    if raw is None or not re.fullmatch(r"\d{1,19}", raw) or int(raw) in NEVER:
        return None
    try:
        return FILETIME_EPOCH + timedelta(microseconds=int(raw) // 10)
    except OverflowError:  # past year 9999: as good as never
        return None


def _answer(value: T, entry: Entry, matches: int, user: Entry | None = None) -> Answer[T]:
    """The directory is authoritative and live: confidence 1 (split when a lookup matches several entries),
    observed now, and valid since the user's entry last changed (``whenChanged``; OpenLDAP's
    ``modifyTimestamp``) where the directory says."""
    changed = changed_at(user or entry)
    return Answer(value, 1 / matches, datetime.now(UTC), entry.dn, valid_from=changed)


def changed_at(entry: Entry) -> datetime | None:
    """``whenChanged`` / ``modifyTimestamp`` as GeneralizedTime (20261101120000Z, 20261101120000.0Z) or as ldap3
    renders a parsed one (2026-11-01 12:00:00+00:00); None when absent or unreadable."""
    raw = entry.first("whenChanged") or entry.first("modifyTimestamp")
    if raw is None:
        return None
    match = re.fullmatch(r"(\d{14})(?:[.,]\d+)?Z", raw)
    try:
        if match:
            return datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _manager(directory: Directory, session: Session, entry: Entry) -> Entry | None:
    dn = entry.first("manager")
    return directory.read(session, dn) if dn else None


def _user_info(directory: Directory, account: str, session: Session) -> list[Answer[UserInfo]]:
    users = directory.find_users(session, account)
    found = []
    for entry in users:
        manager = _manager(directory, session, entry)
        expires = _expires(entry)
        info = UserInfo(
            username=directory.username(entry) or account,
            display_name=entry.first("displayName") or entry.first("cn"),
            email=entry.first("mail"),
            title=entry.first("title"),
            department=entry.first("department"),
            company=entry.first("company"),
            location=entry.first("l") or entry.first("physicalDeliveryOfficeName"),
            phone=entry.first("telephoneNumber"),
            enabled=_enabled(entry, expires),
            expires=expires,
            manager=directory.username(manager) if manager else None,
        )
        found.append(_answer(info, entry, len(users)))
    return found


def _managers(directory: Directory, account: str, session: Session) -> list[Answer[Person]]:
    users = directory.find_users(session, account)
    found = []
    for entry in users:
        manager = _manager(directory, session, entry)
        name = directory.username(manager) if manager else None
        if manager is None or name is None:
            continue  # no manager, a dangling DN, or a manager without an account name (a contact)
        person = Person(
            username=name,
            display_name=manager.first("displayName") or manager.first("cn"),
            email=manager.first("mail"),
            title=manager.first("title"),
        )
        found.append(_answer(person, manager, len(users), entry))
    return found


def _groups(directory: Directory, account: str, session: Session) -> list[Answer[list[str]]]:
    users = directory.find_users(session, account)
    found = []
    for entry in users:
        names = [name for dn in entry.values("memberOf") if (name := rdn_value(dn))]
        if directory.config.nested_groups:
            names += directory.nested_groups(session, entry.dn)
        unique = sorted({name.casefold(): name for name in names}.values(), key=str.casefold)
        found.append(_answer(unique, entry, len(users)))
    return found


class Ldap(Provider[LdapConfig]):
    """Active Directory, or any LDAPv3 directory (OpenLDAP: ``user_attribute: uid``)."""

    type_name = "ldap"
    Config: ClassVar[type[ProviderConfig]] = LdapConfig

    def __init__(self, name: str, config: LdapConfig) -> None:
        super().__init__(name, config)
        self._directory: Directory | None = None

    async def open(self) -> None:
        if self.config.authentication == "NTLM" and not md4_available():
            key = f"providers.{self.name}.authentication"
            raise ConfigError("NTLM needs MD4, which this OpenSSL lacks: install pycryptodome", key=key)
        self._directory = Directory(self.config)

    async def aclose(self) -> None:
        directory, self._directory = self._directory, None
        if directory is not None:
            await self.run_sync(directory.close)

    async def _run(self, query: UserQuery[T], account: str) -> list[Answer[T]]:
        directory = self._directory
        if directory is None:
            raise ProviderUnavailable(f"ldap provider {self.name} is not open")
        return await self.run_sync(directory.run, partial(query, directory, account))

    @answers(USER_INFO)
    async def user_info(self, lookup: Lookup) -> list[Answer[UserInfo]]:
        return await self._run(_user_info, lookup.value)

    @answers(USER_MANAGER)
    async def user_manager(self, lookup: Lookup) -> list[Answer[Person]]:
        return await self._run(_managers, lookup.value)

    @answers(USER_GROUPS)
    async def user_groups(self, lookup: Lookup) -> list[Answer[list[str]]]:
        return await self._run(_groups, lookup.value)

    async def health(self) -> Health:
        """A real bind on a new connection (with failover) and a base search of base_dn; never raises."""
        directory = self._directory or Directory(self.config)
        try:
            return Health(ok=True, detail=await self.run_sync(directory.probe))
        except ProviderError as exc:
            return Health(ok=False, detail=exc.message)
        except Exception as exc:
            return Health(ok=False, detail=f"health check failed: {type(exc).__name__}")


__all__ = ["Ldap", "LdapConfig"]
