"""Splunk: answers the queries that config maps to SPL search templates, through splunk-sdk (splunklib).

Each template (``searches: {QUERY_NAME: {spl, field, ...}}``) is SPL with a ``{value}`` placeholder; the looked-up
value goes in as one double-quoted SPL literal with ``"`` and ``\\`` escaped, so no input changes the search's
structure. Searches run as **oneshot** jobs (``POST search[/v2]/jobs`` with ``exec_mode=oneshot``,
``output_mode=json``): one round trip, the whole (``max_results``-bounded) result set in one JSON document, no job
to poll or clean up. ``at`` becomes an ``earliest_time``/``latest_time`` window in epoch seconds; without ``at``
the template's ``default_earliest`` (e.g. ``-24h``) up to ``now``.

splunklib is synchronous: calls run in the provider's worker threads (``run_sync``). One logged-in ``Service``
is kept per instance and shared: splunklib opens a new HTTP connection per request, so threads share only the
session key; the login and the server-info read (which picks the v1 or v2 search endpoint) happen once, under a
lock, before the Service is shared. With username/password, splunklib's ``autologin`` logs in again once when
the session expires (HTTP 401) and repeats the request. Its HTTP handler gets the ``timeout_s`` socket timeout.

Answers: the rows are the key's history. Consecutive rows with one value are one run, answered once, newest
first: ``valid_from`` its first row's ``time_field``, ``valid_to`` the first row of the next value (none for the
latest run), ``observed_at`` its last row; each with the template's ``confidence`` (default 0.85: a log hit, not
an authoritative record) and ``source_ref`` a Splunk Web permalink when ``web_url`` is set, else the search id the
provider gave the job (in Splunk's _audit).
"""

from __future__ import annotations

import json
import logging
import os
import re
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.client import HTTPException
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import urlencode, urlsplit
from xml.etree.ElementTree import XML, ParseError

from positron.queries import (
    HOST_USER,
    HOSTNAME_TO_IP,
    IP_TO_HOSTNAME,
    IP_TO_MAC,
    IP_TO_USER,
    USER_INFO,
    UserInfo,
    canonical_name,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from splunklib import binding, client

from positron.provider import (
    Answer,
    BadResponse,
    Health,
    InvalidInput,
    Lookup,
    Provider,
    ProviderAuthError,
    ProviderConfig,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    Secret,
    UnsupportedInput,
    answers,
    normalize_hostname,
    normalize_ip,
    normalize_mac,
    normalize_username,
)

log = logging.getLogger(__name__)

Row = dict[str, Any]
K = TypeVar("K")
PLACEHOLDER = "{value}"
QUOTED = re.compile(r'"(?:\\.|[^"\\])*"')  # an SPL string literal, with its backslash escapes
TEMPLATED = (
    IP_TO_HOSTNAME.name,
    HOSTNAME_TO_IP.name,
    IP_TO_MAC.name,
    USER_INFO.name,
    IP_TO_USER.name,  # logon events: Windows 4624, VPN, proxy logs
    HOST_USER.name,
)
TRUE = frozenset({"true", "1", "yes", "enabled", "active"})
FALSE = frozenset({"false", "0", "no", "disabled", "inactive"})


def spl_literal(value: str) -> str:
    """``value`` as one double-quoted SPL literal. ``*`` is refused: SPL has no escape for its wildcard."""
    if "*" in value or any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise UnsupportedInput("the value holds '*' or a control character, which SPL cannot match literally")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _placeholders_unquoted(spl: str) -> bool:
    """Whether every ``{value}`` sits outside double quotes (the provider adds the quotes)."""
    return QUOTED.sub("", spl).count(PLACEHOLDER) == spl.count(PLACEHOLDER)


class SearchTemplate(BaseModel):
    """How one query is asked of Splunk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spl: str = Field(description="SPL with a {value} placeholder (unquoted); 'search ' is added if missing")
    field: str | dict[str, str] = Field(
        description="The result field holding the answer; for USER_INFO a map of UserInfo field → Splunk field"
    )
    time_field: str = Field(default="_time", description="The result field that gives observed_at")
    window_before_s: float = Field(default=86_400.0, ge=0, description="earliest_time = at - this")
    window_after_s: float = Field(default=900.0, ge=0, description="latest_time = at + this")
    default_earliest: str = Field(default="-24h", min_length=1, description="earliest_time when there is no at")
    confidence: float = Field(default=0.85, ge=0.0, le=1.0)
    max_results: int = Field(default=100, ge=1, le=50_000, description="The oneshot job's count")

    @field_validator("spl")
    @classmethod
    def _check_spl(cls, value: str) -> str:
        spl = value.strip()
        if PLACEHOLDER not in spl:
            raise ValueError("must contain the {value} placeholder")
        if not _placeholders_unquoted(spl):
            raise ValueError("{value} must not be inside quotes: the provider quotes and escapes it")
        if not spl.startswith("|") and spl.split(maxsplit=1)[0] != "search":
            spl = "search " + spl  # the REST API runs SPL as given: a bare 'index=…' is an unknown command
        return spl


class SplunkConfig(ProviderConfig):
    host: str = Field(min_length=1, description="splunkd host (management port, not Splunk Web)")
    port: int = Field(default=8089, ge=1, le=65535)
    scheme: Literal["https", "http"] = "https"
    verify: bool = Field(default=True, description="Verify splunkd's TLS certificate")
    ca_file: str | None = Field(default=None, description="PEM bundle to verify splunkd's certificate with")
    username: str | None = None
    password: Secret | None = None
    token: Secret | None = Field(default=None, description="A Splunk authentication token (instead of a login)")
    token_scheme: Literal["Bearer", "Splunk"] = Field(default="Bearer", description="How the token is sent")
    owner: str | None = Field(default=None, description="Namespace owner (/servicesNS/<owner>/<app>/)")
    app: str | None = Field(default=None, description="Namespace app; lookups and macros resolve in it")
    web_url: str | None = Field(default=None, description="Splunk Web root, for permalinks in source_ref")
    searches: dict[str, SearchTemplate] = Field(default_factory=dict, description="QUERY_NAME → template")

    @field_validator("ca_file")
    @classmethod
    def _check_ca_file(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isfile(value):
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("web_url")
    @classmethod
    def _check_web_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = urlsplit(value.strip())
        if url.scheme not in ("http", "https") or not url.hostname or url.username or url.password:
            raise ValueError("must be an http(s) URL with a host and no credentials")
        return value.strip().rstrip("/")

    @field_validator("searches", mode="before")
    @classmethod
    def _canonical_names(cls, value: Any) -> Any:
        return {canonical_name(str(k)): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _check(self) -> SplunkConfig:
        login = self.username is not None or self.password is not None
        if (self.token is None) == (not login) or (login and not (self.username and self.password)):
            raise ValueError("give either token, or username and password")
        for name, template in self.searches.items():
            if name not in TEMPLATED:
                raise ValueError(f"searches: {name} cannot be answered by a search; use one of {TEMPLATED}")
            if name == USER_INFO.name:
                if not isinstance(template.field, dict) or not template.field:
                    raise ValueError("searches.USER_INFO.field: map UserInfo fields to Splunk fields")
                unknown = set(template.field) - set(UserInfo.model_fields)
                if unknown:
                    raise ValueError(f"searches.USER_INFO.field: not UserInfo fields: {sorted(unknown)}")
            elif not isinstance(template.field, str):
                raise ValueError(f"searches.{name}.field: give the one Splunk field that holds the answer")
        return self


class Splunk(Provider[SplunkConfig]):
    type_name: ClassVar[str] = "splunk"
    Config: ClassVar[type[ProviderConfig]] = SplunkConfig

    def __init__(self, name: str, config: SplunkConfig) -> None:
        super().__init__(name, config)
        self._service: Any = None  # a logged-in splunklib.client.Service, built on first use
        self._lock = threading.Lock()
        self._where = f"Splunk at {config.host}:{config.port}"

    def serves(self) -> list[str]:
        return [name for name in super().serves() if name in self.config.searches]

    async def aclose(self) -> None:
        service, self._service = self._service, None
        if service is not None:
            service.logout()  # forgets the session key and cookie; no request

    async def health(self) -> Health:
        try:
            info = await self.run_sync(self._server_info)
        except ProviderError as exc:
            return Health(ok=False, detail=exc.message)
        version, server = info.get("version", "?"), info.get("serverName", "?")
        return Health(ok=True, detail=f"{self._where}: splunkd {version} ({server})")

    @answers(IP_TO_HOSTNAME)
    async def ip_to_hostname(self, lookup: Lookup) -> list[Answer[str]]:
        return await self._values(lookup, normalize_hostname)

    @answers(HOSTNAME_TO_IP)
    async def hostname_to_ip(self, lookup: Lookup) -> list[Answer[str]]:
        return await self._values(lookup, normalize_ip)

    @answers(IP_TO_MAC)
    async def ip_to_mac(self, lookup: Lookup) -> list[Answer[str]]:
        return await self._values(lookup, normalize_mac)

    @answers(IP_TO_USER)
    async def ip_to_user(self, lookup: Lookup) -> list[Answer[str]]:
        return await self._values(lookup, normalize_username)

    @answers(HOST_USER)
    async def host_user(self, lookup: Lookup) -> list[Answer[str]]:
        return await self._values(lookup, normalize_username)

    @answers(USER_INFO)
    async def user_info(self, lookup: Lookup) -> list[Answer[UserInfo]]:
        template, rows, ref = await self._search(lookup)
        assert isinstance(template.field, dict)
        events: list[tuple[datetime | None, UserInfo]] = []
        for row in rows:
            info = _user_info(row, template.field, lookup.value)
            if info is not None:
                events.append((_observed_at(row.get(template.time_field)), info))
        return _history(events, template.confidence, ref)

    # --- searching --------------------------------------------------------------------------------------------

    async def _values(self, lookup: Lookup, normalize: Callable[[str], str]) -> list[Answer[str]]:
        template, rows, ref = await self._search(lookup)
        assert isinstance(template.field, str)
        events: list[tuple[datetime | None, str]] = []
        for row in rows:
            at = _observed_at(row.get(template.time_field))
            for raw in _strings(row.get(template.field)):
                try:
                    events.append((at, normalize(raw)))
                except InvalidInput:
                    continue  # e.g. a DHCP host name with spaces: not a name the other sources could match
        return _history(events, template.confidence, ref)

    async def _search(self, lookup: Lookup) -> tuple[SearchTemplate, list[Row], str]:
        template = self.config.searches.get(lookup.query.name)
        if template is None:
            raise UnsupportedInput(f"{self.name}: no search is configured for {lookup.query.name}")
        spl = template.spl.replace(PLACEHOLDER, spl_literal(lookup.value))
        sid = f"positron_{uuid.uuid4().hex}"
        params: dict[str, Any] = {"output_mode": "json", "count": template.max_results, "id": sid}
        if lookup.at is None:
            params |= {"earliest_time": template.default_earliest, "latest_time": "now"}
        else:
            at = lookup.at.timestamp()
            params |= {
                "earliest_time": f"{at - template.window_before_s:.3f}",
                "latest_time": f"{at + template.window_after_s:.3f}",
            }
        rows = await self.run_sync(self._oneshot, spl, params)
        return template, rows, self._permalink(spl, params) or sid

    def _permalink(self, spl: str, params: dict[str, Any]) -> str | None:
        if self.config.web_url is None:
            return None
        query = urlencode({"q": spl, "earliest": params["earliest_time"], "latest": params["latest_time"]})
        return f"{self.config.web_url}/en-US/app/{self.config.app or 'search'}/search?{query}"

    # --- splunklib, in worker threads ---------------------------------------------------------------------

    def _oneshot(self, spl: str, params: dict[str, Any]) -> list[Row]:
        with self._errors("search"):
            stream = self._connected().jobs.oneshot(spl, **params)
            try:
                raw = stream.read()
            finally:
                stream.close()
        return self._results(raw)

    def _server_info(self) -> dict[str, Any]:
        with self._errors("server info"):
            return dict(self._connected().info)

    def _connected(self) -> Any:
        with self._lock:
            if self._service is None:
                service = client.Service(**self._service_args())
                service.login()
                if service.disable_v2_api:  # reads server/info once, before the Service is shared
                    log.debug("%s: splunkd before 9.0.2, using search/jobs (v1)", self.name)
                self._service = service
            return self._service

    def _service_args(self) -> dict[str, Any]:
        cfg = self.config
        context = None
        if cfg.scheme == "https" and cfg.verify and cfg.ca_file:
            context = ssl.create_default_context(cafile=cfg.ca_file)
        args: dict[str, Any] = {
            "host": cfg.host,
            "port": cfg.port,
            "scheme": cfg.scheme,
            "owner": cfg.owner,
            "app": cfg.app,
            "handler": binding.handler(timeout=cfg.timeout_s, verify=cfg.verify, context=context),
        }
        if cfg.token is not None:
            key = "splunkToken" if cfg.token_scheme == "Bearer" else "token"
            return args | {key: cfg.token.get_secret_value()}
        assert cfg.password is not None
        return args | {"username": cfg.username, "password": cfg.password.get_secret_value(), "autologin": True}

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate splunklib's and the socket layer's errors; messages hold only the host and the status."""
        where = f"{self._where}: {action}"
        try:
            yield
        except binding.AuthenticationError as exc:
            raise ProviderAuthError(f"{where}: authentication failed (HTTP {exc.status})") from exc
        except binding.HTTPError as exc:
            raise _http_error(where, exc.status, exc.headers, exc.body) from exc
        except TimeoutError as exc:
            raise ProviderTimeout(f"{where}: no answer within {self.config.timeout_s:g} s") from exc
        except ssl.SSLCertVerificationError as exc:
            raise ProviderUnavailable(f"{where}: TLS certificate verification failed") from exc
        except (OSError, HTTPException) as exc:
            raise ProviderUnavailable(f"{where}: cannot reach splunkd ({type(exc).__name__})") from exc
        except (ParseError, ValueError, KeyError) as exc:
            raise BadResponse(f"{where}: malformed response ({type(exc).__name__})") from exc

    def _results(self, raw: bytes) -> list[Row]:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise BadResponse(f"{self._where}: search results are not JSON") from exc
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise BadResponse(f"{self._where}: search results have no 'results' list")
        messages = body.get("messages") or []
        failed = [m.get("type") for m in messages if isinstance(m, dict) and m.get("type") in ("FATAL", "ERROR")]
        if failed and not results:
            raise BadResponse(f"{self._where}: the search reported {failed[0]}")
        return results


def _http_error(where: str, status: int, headers: Any, body: bytes) -> ProviderError:
    if status in (401, 403):
        return ProviderAuthError(f"{where}: HTTP {status}, access denied")
    if status == 429:
        retry = dict((k.lower(), v) for k, v in headers or []).get("retry-after", "")
        return ProviderRateLimited(f"{where}: HTTP 429", retry_after=float(retry) if retry.isdigit() else None)
    if 400 <= status < 500:
        log.warning("%s: splunkd rejected the search (HTTP %d): %s", where, status, _splunk_message(body))
        return BadResponse(f"{where}: splunkd rejected the search (HTTP {status})")
    return ProviderUnavailable(f"{where}: splunkd answered HTTP {status}")


def _splunk_message(body: bytes) -> str:
    """The first message of a splunkd error body (XML, or JSON for output_mode=json), for the log."""
    try:
        messages = json.loads(body).get("messages") or [{}]
        return str(messages[0].get("text", ""))[:300]
    except (ValueError, AttributeError, IndexError):
        pass
    try:
        return (XML(body).findtext("./messages/msg") or "")[:300]
    except ParseError:
        return ""


def _strings(raw: Any) -> list[str]:
    """A result field's values: splunkd gives a string, or a list of strings for a multivalue field."""
    values = raw if isinstance(raw, list) else [raw]
    return [text for text in (str(v).strip() for v in values if isinstance(v, str | int | float)) if text]


def _observed_at(raw: Any) -> datetime | None:
    """``_time`` as splunkd renders it (ISO 8601 with an offset), or epoch seconds; aware UTC."""
    texts = _strings(raw)
    if not texts:
        return None
    try:
        return datetime.fromtimestamp(float(texts[0]), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(texts[0])
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _history(events: list[tuple[datetime | None, K]], confidence: float, ref: str) -> list[Answer[K]]:
    """The rows (all for the one key searched) as a history: consecutive rows with one value are one run, valid
    from its first row until the first row of the next value (open for the last run), observed at its last row.
    One answer per run, newest first; a value seen only in undated rows gets one undated answer, last."""
    dated = sorted(((at, value) for at, value in events if at is not None), key=lambda e: e[0])
    runs: list[list[Any]] = []  # [value, first, last, next]
    for at, value in dated:
        if runs and runs[-1][0] == value:
            runs[-1][2] = at
            continue
        if runs:
            runs[-1][3] = at
        runs.append([value, at, at, None])
    answers = [
        Answer(value, confidence=confidence, observed_at=last, source_ref=ref, valid_from=first, valid_to=nxt)
        for value, first, last, nxt in reversed(runs)
    ]
    seen = {value for value, *_ in runs}
    for when, value in events:
        if when is None and value not in seen:
            seen.add(value)
            answers.append(Answer(value, confidence=confidence, source_ref=ref))
    return answers


def _user_info(row: Row, mapping: dict[str, str], username: str) -> UserInfo | None:
    values: dict[str, Any] = {}
    for model_field, splunk_field in mapping.items():
        strings = _strings(row.get(splunk_field))
        if strings:
            values[model_field] = strings[0]
    if "enabled" in values:
        flag = values["enabled"].casefold()
        values["enabled"] = True if flag in TRUE else False if flag in FALSE else None
    try:
        values["username"] = normalize_username(values.get("username", username))
    except InvalidInput:
        values["username"] = username
    try:
        return UserInfo.model_validate(values)
    except ValidationError:
        return None
