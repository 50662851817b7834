"""The blocking side of the ldap provider: bound connections, failover, searches. Runs in worker threads.

Each call borrows one bound connection (ldap3 SAFE_SYNC: every operation returns its own result, nothing is
shared through the connection object) from a small pool; a pooled connection the server has dropped is replaced
and the call retried once. A new connection goes to the first server that works, in config order; a server that
failed is tried only after the others for ``failover_recheck_s``. Each connection gets its own ldap3 ``Server``
(a shared one keeps per-address failure state that makes later opens fail with "invalid server address").
"""

from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import math
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ldap3 import BASE, NONE, NTLM, SAFE_SYNC, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import (
    LDAPCertificateError,
    LDAPCommunicationError,
    LDAPException,
    LDAPResponseTimeoutError,
    LDAPSocketOpenError,
    LDAPStartTLSError,
)
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn
from positron.providers.ldap._config import LdapConfig, Target

from positron.provider import (
    BadResponse,
    ProviderAuthError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
)

T = TypeVar("T")

IN_CHAIN = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN (AD only; OpenLDAP matches nothing)
MAX_USERS = 10  # entries one lookup may match
MAX_GROUPS = 1000  # groups from one nested-membership search (AD's default MaxPageSize)
MAX_IDLE_S = 240.0  # a pooled connection idle longer is closed, not reused (AD drops idle ones after 900 s)
USER_ATTRIBUTES = (
    "displayName", "cn", "mail", "title", "department", "company", "l", "physicalDeliveryOfficeName",
    "telephoneNumber", "userAccountControl", "accountExpires", "manager", "memberOf", "whenChanged",
    "modifyTimestamp",
)  # fmt: skip
AUTH_RESULTS = {7, 8, 13, 48, 49, 50}  # authMethodNotSupported … invalidCredentials, insufficientAccessRights
BUSY_RESULTS = {51, 52, 53}  # busy, unavailable, unwillingToPerform
_AD_DATA = re.compile(r"\bdata ([0-9a-f]{1,8})\b")  # AD's bind sub-code: 52e bad password, 775 locked, …
_BROKEN = (LDAPCommunicationError, LDAPResponseTimeoutError, OSError)  # the connection is unusable after these


@dataclass(slots=True)
class Session:
    conn: Connection
    target: Target
    last_used: float
    reused: bool = False


@dataclass(frozen=True, slots=True)
class Entry:
    dn: str
    attributes: Mapping[str, Any]

    def values(self, name: str) -> list[str]:
        """Non-blank values as strings, whether ldap3 gave a list (no schema read) or a scalar (schema read)."""
        raw = self.attributes.get(name)
        items = raw if isinstance(raw, list | tuple) else [] if raw is None else [raw]
        text = (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in items)
        return [v.strip() for v in text if v.strip()]

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None


class Directory:
    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        self.targets = [Target.parse(url) for url in config.servers]
        self.connect_timeout = config.connect_timeout_s or config.timeout_s
        # ldap3 sets SO_RCVTIMEO with struct.pack("LL", timeout, 0): a float there makes every open fail on Linux.
        self.receive_timeout = max(1, math.ceil(config.receive_timeout_s or config.timeout_s))
        self._lock = threading.Lock()
        self._idle: list[Session] = []
        self._failed_at: dict[Target, float] = {}
        self._closed = False

    # -- connections -------------------------------------------------------------------------------------------
    def _ordered_targets(self) -> list[Target]:
        now = time.monotonic()
        with self._lock:
            failed = {t: at for t, at in self._failed_at.items() if now - at < self.config.failover_recheck_s}
        healthy = [t for t in self.targets if t not in failed]
        return healthy + sorted(failed, key=failed.__getitem__)  # failed servers last, oldest failure first

    def _connect(self, target: Target) -> Session:
        tls = None
        if self.config.tls != "none":
            sni = None if _is_ip(target.host) else target.host
            tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=self.config.ca_file, sni=sni)
        server = Server(target.host, port=target.port, use_ssl=target.ssl, tls=tls, get_info=NONE,
                        connect_timeout=self.connect_timeout)  # fmt: skip
        conn = Connection(
            server,
            user=self.config.bind_user,
            password=self.config.bind_password.get_secret_value(),
            authentication=NTLM if self.config.authentication == "NTLM" else SIMPLE,
            client_strategy=SAFE_SYNC,
            receive_timeout=self.receive_timeout,
            auto_referrals=False,
            read_only=True,
        )
        try:
            conn.open(read_server_info=False)
            if self.config.tls == "starttls":
                conn.start_tls(read_server_info=False)
            _, result, _, _ = conn.bind(read_server_info=False)  # the 4th item echoes the password: dropped
        except BaseException:
            _close(conn)
            raise
        if result["result"] != 0:
            _close(conn)
            _raise_bind_failure(target, result)
        return Session(conn, target, time.monotonic())

    def open_session(self) -> Session:
        """A new bound connection to the first server that works; a refused bind is not failed over."""
        failures: list[ProviderError] = []
        for target in self._ordered_targets():
            try:
                session = self._connect(target)
            except (LDAPException, OSError) as exc:
                failures.append(self.translate(exc, target))
            except ProviderUnavailable as exc:
                failures.append(exc)
            else:
                with self._lock:
                    self._failed_at.pop(target, None)
                return session
            with self._lock:
                self._failed_at[target] = time.monotonic()
        if len(failures) == 1:
            raise failures[0]
        kind = type(failures[0]) if len({type(f) for f in failures}) == 1 else ProviderUnreachable
        raise kind("no ldap server answered: " + "; ".join(f.message for f in failures))

    def translate(self, exc: BaseException, target: Target) -> ProviderError:
        """An ldap3 error as a positron error, built from safe facts: never the library's text."""
        label, name = target.label, type(exc).__name__
        if isinstance(exc, ssl.SSLError | ssl.CertificateError | LDAPCertificateError):
            return ProviderUnreachable(f"TLS with ldap server {label} failed (certificate or handshake)")
        if isinstance(exc, LDAPSocketOpenError) and isinstance(exc, TimeoutError) and _in_tls_handshake(exc):
            return ProviderTimeout(f"ldap server {label} accepted the connection but did not complete the TLS "
                                   f"handshake within {self.receive_timeout}s")  # fmt: skip
        if isinstance(exc, LDAPSocketOpenError):
            within = f" within {self.connect_timeout}s" if isinstance(exc, TimeoutError) else ""
            return ProviderUnreachable(f"cannot connect to ldap server {label}{within}")
        if isinstance(exc, TimeoutError | LDAPResponseTimeoutError):
            return ProviderTimeout(f"no reply from ldap server {label} within {self.receive_timeout}s")
        if isinstance(exc, LDAPStartTLSError):
            return ProviderUnavailable(f"StartTLS refused by ldap server {label}")
        if isinstance(exc, OSError | LDAPCommunicationError):
            return ProviderUnavailable(f"connection to ldap server {label} lost ({name})")
        return BadResponse(f"ldap error from {label}: {name}")

    def _take(self, fresh: bool) -> Session:
        """A pooled connection, or a new one; ``fresh``: close every pooled one (the server dropped one of them,
        so it has most likely dropped the others too: restarted, or idle timeout) and open a new one."""
        now, stale, session = time.monotonic(), [], None
        with self._lock:
            if fresh:
                stale, self._idle = self._idle, []
            while self._idle and session is None:
                candidate = self._idle.pop()
                if now - candidate.last_used < MAX_IDLE_S and not candidate.conn.closed:
                    session, candidate.reused = candidate, True
                else:
                    stale.append(candidate)
        for old in stale:
            _close(old.conn)
        return session or self.open_session()

    def _give_back(self, session: Session) -> None:
        session.last_used = time.monotonic()
        with self._lock:
            if not self._closed and not session.conn.closed and len(self._idle) < self.config.max_concurrency:
                self._idle.append(session)
                return
        _close(session.conn)

    def run(self, work: Callable[[Session], T]) -> T:
        """``work`` on a pooled connection; if the server had dropped it, once more on a new one."""
        for attempt in (1, 2):
            session = self._take(fresh=attempt == 2)
            try:
                result = work(session)
            except ProviderError:
                self._give_back(session)  # a result code: the connection is still good
                raise
            except _BROKEN as exc:
                _close(session.conn)
                timed_out = isinstance(exc, TimeoutError | LDAPResponseTimeoutError)
                if session.reused and attempt == 1 and not timed_out:
                    continue
                raise self.translate(exc, session.target) from exc
            except LDAPException as exc:
                _close(session.conn)
                raise self.translate(exc, session.target) from exc
            except BaseException:
                _close(session.conn)
                raise
            self._give_back(session)
            return result
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            self._closed, idle, self._idle = True, self._idle, []
        for session in idle:
            _close(session.conn)

    # -- searches ----------------------------------------------------------------------------------------------
    def search(self, session: Session, base: str, flt: str, attributes: list[str], *, scope: str = SUBTREE,
               size_limit: int = MAX_USERS) -> list[Entry]:  # fmt: skip
        _, result, response, _ = session.conn.search(
            base, flt, search_scope=scope, attributes=attributes, size_limit=size_limit,
            time_limit=self.receive_timeout,
        )  # fmt: skip
        code, label = result["result"], session.target.label
        if code == 32 and scope == BASE:
            return []  # the entry a DN points to (a manager) no longer exists
        if code == 32:
            raise BadResponse(f"search base {base!r} does not exist on {label}")
        if code == 3:
            raise ProviderTimeout(f"ldap server {label} hit its time limit")
        if code in BUSY_RESULTS:
            raise ProviderUnavailable(f"ldap server {label} refused the search: {result['description']}")
        if code not in (0, 4):  # 4: sizeLimitExceeded, the entries up to the limit are kept
            raise BadResponse(f"search failed on {label}: {result['description']}")
        entries = (item for item in response or [] if item.get("type") == "searchResEntry")
        return [Entry(item["dn"], item.get("attributes") or {}) for item in entries]

    def find_users(self, session: Session, account: str) -> list[Entry]:
        """``jdoe`` by the account attribute; ``jdoe@corp.example`` by UPN or mail. The value is escaped."""
        value = escape_filter_chars(account)
        if "@" in account:
            match = f"(|(userPrincipalName={value})(mail={value}))"
        else:
            match = f"({self.config.user_attribute}={value})"
        attributes = [self.config.user_attribute, *USER_ATTRIBUTES]
        return self.search(session, self.config.base_dn, f"(&{self.config.user_filter}{match})", attributes)

    def read(self, session: Session, dn: str) -> Entry | None:
        found = self.search(session, dn, "(objectClass=*)", [self.config.user_attribute, *USER_ATTRIBUTES],
                            scope=BASE, size_limit=1)  # fmt: skip
        return found[0] if found else None

    def username(self, entry: Entry) -> str | None:
        name = entry.first(self.config.user_attribute)
        return name.casefold() if name else None

    def nested_groups(self, session: Session, user_dn: str) -> list[str]:
        flt = f"(member:{IN_CHAIN}:={escape_filter_chars(user_dn)})"
        groups = self.search(session, self.config.base_dn, flt, ["cn"], size_limit=MAX_GROUPS)
        return [cn for group in groups if (cn := group.first("cn") or rdn_value(group.dn))]

    def probe(self) -> str:
        """A real bind on a new connection, then a base search of base_dn."""
        session = self.open_session()
        try:
            entry = self.read(session, self.config.base_dn)
        except LDAPException as exc:
            raise self.translate(exc, session.target) from exc
        finally:
            _close(session.conn)
        if entry is None:
            raise BadResponse(f"base_dn {self.config.base_dn!r} not found on {session.target.label}")
        return f"bound to {session.target.label}; base_dn readable"


def md4_available() -> bool:
    """NTLM hashes the password with MD4, which OpenSSL 3 dropped; ldap3 then falls back to pycryptodome."""
    try:
        hashlib.new("md4")
        return True
    except ValueError:
        return importlib.util.find_spec("Crypto.Hash.MD4") is not None


def rdn_value(dn: str) -> str | None:
    """The CN of a DN, unescaped: ``CN=Smith\\, Fans,OU=Groups,…`` → ``Smith, Fans``."""
    try:
        attribute, value, _ = parse_dn(dn, escape=False, strip=True)[0]
    except (LDAPException, IndexError):
        return None
    if attribute.casefold() != "cn":
        return None
    pieces = re.split(r"(\\[0-9a-fA-F]{2}|\\.)", value)
    raw = b"".join(
        bytes.fromhex(p[1:]) if len(p) == 3 and p[0] == "\\" else (p[1:] if p[:1] == "\\" else p).encode()
        for p in pieces
    )
    return raw.decode("utf-8", "replace") or None


def _close(conn: Connection) -> None:
    try:
        conn.unbind()
    except (LDAPException, OSError):
        pass
    if conn.socket is not None:  # a failed open leaves its socket behind
        try:
            conn.socket.close()
        except OSError:
            pass
        conn.socket = None


def _in_tls_handshake(exc: BaseException) -> bool:
    """ldap3 raises the same LDAPSocketOpenError (a TimeoutError too) for a TCP connect and for a TLS handshake
    that timed out; only its message (read here, never copied out) says which."""
    return str(exc).startswith("socket ssl wrapping error")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _raise_bind_failure(target: Target, result: Mapping[str, Any]) -> None:
    code, description = result["result"], result.get("description") or "error"
    sub = _AD_DATA.search(str(result.get("message") or ""))
    detail = f"{description} (AD data {sub.group(1)})" if sub else str(description)
    if code in AUTH_RESULTS:
        raise ProviderAuthError(f"bind failed for server {target.label}: {detail}")
    raise ProviderUnavailable(f"bind refused by server {target.label}: {detail}")
