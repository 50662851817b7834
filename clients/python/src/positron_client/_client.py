"""The synchronous client."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from positron_client import _core
from positron_client._exceptions import ConnectionFailed, RequestTimeout, TransportError, UnexpectedResponse
from positron_client._models import (
    OnCall,
    Person,
    ProviderInfo,
    QueryInfo,
    QueryResult,
    Reputation,
    UserInfo,
    parse_oncall,
    parse_person,
    parse_provider_info,
    parse_query_info,
    parse_reputation,
    parse_result,
    parse_str,
    parse_str_list,
    parse_user_info,
)
from positron_client._queries import canonical_name, value_parser
from positron_client._workflows import (
    BATCH_PATH,
    ENRICH_PATH,
    BatchItemLike,
    BatchItemResult,
    EnrichInput,
    EnrichResult,
    StreamTally,
    batch_body,
    enrich_body,
    parse_batch,
    parse_enrich,
)

T = TypeVar("T")
At = datetime | str | None


class Positron:
    """A Positron server, synchronously.

    ``url`` and ``api_key`` default to ``POSITRON_URL`` and ``POSITRON_API_KEY``. ``timeout`` (seconds, or an
    ``httpx.Timeout``) bounds each attempt. Connection errors and 502/503/504 answers are retried ``max_retries``
    times with full-jitter exponential backoff starting at ``backoff_s``; nothing else is retried. ``verify`` is
    passed to httpx (``False``, a CA bundle path or an ``ssl.SSLContext``).

        with Positron("https://positron.corp.example", api_key) as positron:
            positron.ip_to_hostname("10.20.0.42").best      # 'ws-042.corp.example'
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = _core.DEFAULT_TIMEOUT_S,
        max_retries: int = 2,
        backoff_s: float = 0.25,
        verify: ssl.SSLContext | str | bool = True,
    ) -> None:
        self._settings = _core.settings(url, api_key, timeout, max_retries, backoff_s)
        self._http = httpx.Client(
            base_url=self._settings.url, headers=self._settings.headers, timeout=self._settings.timeout, verify=verify
        )

    @property
    def url(self) -> str:
        return self._settings.url

    def __repr__(self) -> str:
        return f"Positron(url={self.url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Positron:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- transport -------------------------------------------------------------------------------------------

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        s = self._settings
        for attempt in range(s.max_retries + 1):
            last = attempt == s.max_retries
            try:
                response = self._http.request(method, path, json=body)
            except _core.RETRY_EXCEPTIONS as exc:
                if last:
                    raise ConnectionFailed(_core.connection_failed(s.url, exc, attempt + 1)) from exc
                time.sleep(_core.retry_delay(attempt, s.backoff_s))
                continue
            except httpx.TimeoutException as exc:
                raise RequestTimeout(_core.timed_out(s.url, exc)) from exc
            except httpx.HTTPError as exc:
                raise TransportError(_core.connection_failed(s.url, exc, 1)) from exc
            if _core.should_retry_status(response) and not last:
                time.sleep(_core.retry_delay(attempt, s.backoff_s, _core.retry_after(response)))
                continue
            return _core.read(response)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- generic ---------------------------------------------------------------------------------------------

    def query(
        self,
        name: str,
        value: str,
        at: At = None,
        providers: Sequence[str] | None = None,
        no_cache: bool = False,
        *,
        tlp: int | str | None = None,
    ) -> QueryResult[Any]:
        """Run any query by name. Standard queries' answer values are parsed into their types (``Person``,
        ``Reputation``, ...); others stay plain JSON. ``tlp`` is sent only when given (servers that take it)."""
        return self._run(name, value, at, providers, no_cache, value_parser(name), tlp)

    def _run(
        self,
        name: str,
        value: str,
        at: At,
        providers: Sequence[str] | None,
        no_cache: bool,
        parse: Callable[[Any], T],
        tlp: int | str | None = None,
    ) -> QueryResult[T]:
        path = _core.query_path(canonical_name(name))
        raw = self._send("POST", path, _core.query_body(value, at, providers, no_cache, tlp))
        try:
            return parse_result(raw, parse)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _core.unexpected(path, exc) from None

    def queries(self) -> list[QueryInfo]:
        """Every query the server knows, with its input, output schema and the providers that answer it."""
        return self._list("/v1/queries", parse_query_info)

    def query_info(self, name: str) -> QueryInfo:
        path = _core.query_path(canonical_name(name))
        try:
            return parse_query_info(self._send("GET", path))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _core.unexpected(path, exc) from None

    def providers(self) -> list[ProviderInfo]:
        """The configured provider instances and their health (never a secret)."""
        return self._list("/v1/providers", parse_provider_info)

    def openapi(self) -> dict[str, Any]:
        """The server's OpenAPI document."""
        spec: dict[str, Any] = self._send("GET", "/openapi.json")
        return spec

    def _list(self, path: str, parse: Callable[[Any], T]) -> list[T]:
        try:
            return [parse(item) for item in self._send("GET", path)]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _core.unexpected(path, exc) from None

    # --- workflows: many lookups at once, and alert enrichment -------------------------------------------------

    def batch(
        self, items: Iterable[BatchItemLike], *, no_cache: bool = False, tlp: int | str | None = None
    ) -> list[BatchItemResult]:
        """Run many queries in one request; results come back in request order. ``items`` are ``BatchItem``s,
        ``(query, value)`` / ``(query, value, at)`` tuples or ``{"query", "value", "at"?}`` dicts. An item's own
        failure (unknown query, invalid value, denied) is its ``error``, not an exception; identical items run once."""
        raw = self._send("POST", BATCH_PATH, batch_body(items, no_cache, tlp))
        return _core.parse_body(BATCH_PATH, parse_batch, raw)

    def iter_batch(
        self, items: Iterable[BatchItemLike], *, no_cache: bool = False, tlp: int | str | None = None
    ) -> Iterator[BatchItemResult]:
        """Like ``batch()``, yielding each result as the server finishes it (completion order; ``.index`` says
        which item), for progress. Retried like ``query()`` only until the first result has been yielded."""
        body = batch_body(items, no_cache, tlp)
        tally = StreamTally(len(body["items"]))
        s = self._settings
        for attempt in range(s.max_retries + 1):
            last = attempt == s.max_retries
            try:
                with self._http.stream("POST", BATCH_PATH, json=body, headers=_core.STREAM_HEADERS) as response:
                    if not _core.should_retry_status(response) or last:
                        yield from self._stream(response, tally)
                        return
                    delay = _core.retry_delay(attempt, s.backoff_s, _core.retry_after(response))
            except _core.RETRY_EXCEPTIONS as exc:
                if tally.started:
                    raise ConnectionFailed(_core.stream_broken(s.url, exc, len(tally.seen), tally.expected)) from exc
                if last:
                    raise ConnectionFailed(_core.connection_failed(s.url, exc, attempt + 1)) from exc
                delay = _core.retry_delay(attempt, s.backoff_s)
            except httpx.TimeoutException as exc:
                raise RequestTimeout(_core.timed_out(s.url, exc)) from exc
            except httpx.HTTPError as exc:
                raise TransportError(_core.connection_failed(s.url, exc, 1)) from exc
            time.sleep(delay)

    def _stream(self, response: httpx.Response, tally: StreamTally) -> Iterator[BatchItemResult]:
        if not _core.is_ndjson(response):
            response.read()
            yield from (tally.add(r) for r in _core.whole_batch(response))
            return
        for line in response.iter_lines():
            if (result := _core.stream_line(line)) is not None:
                yield tally.add(result)
        if (missing := tally.missing()) is not None:
            raise UnexpectedResponse(missing)

    def enrich(
        self,
        alert_or_observables: EnrichInput,
        *,
        queries: Sequence[str] | None = None,
        at: At = None,
        tlp: int | str | None = None,
    ) -> EnrichResult:
        """Every applicable query for each observable of an alert, and a Markdown summary for a ticket. Takes a raw
        alert (a Splunk webhook body, say), ``{"alert": ...}``, ``{"observables": [...]}``, or a list of
        ``Observable(type, value)`` / ``(type, value)``. ``queries`` limits which run; ``at`` defaults to the
        alert's own time."""
        raw = self._send("POST", ENRICH_PATH, enrich_body(alert_or_observables, queries, at, tlp))
        return _core.parse_body(ENRICH_PATH, parse_enrich, raw)

    # --- one method per standard query -------------------------------------------------------------------------

    def ip_to_hostname(
        self, ip: str, at: At = None, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[str]:
        return self._run("IP_TO_HOSTNAME", ip, at, providers, no_cache, parse_str)

    def hostname_to_ip(
        self, hostname: str, at: At = None, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[str]:
        return self._run("HOSTNAME_TO_IP", hostname, at, providers, no_cache, parse_str)

    def ip_to_mac(
        self, ip: str, at: At = None, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[str]:
        return self._run("IP_TO_MAC", ip, at, providers, no_cache, parse_str)

    def user_info(
        self, user: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[UserInfo]:
        return self._run("USER_INFO", user, None, providers, no_cache, parse_user_info)

    def user_manager(
        self, user: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[Person]:
        return self._run("USER_MANAGER", user, None, providers, no_cache, parse_person)

    def user_groups(
        self, user: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[list[str]]:
        return self._run("USER_GROUPS", user, None, providers, no_cache, parse_str_list)

    def hash_reputation(
        self, file_hash: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[Reputation]:
        return self._run("HASH_REPUTATION", file_hash, None, providers, no_cache, parse_reputation)

    def ip_reputation(
        self, ip: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[Reputation]:
        return self._run("IP_REPUTATION", ip, None, providers, no_cache, parse_reputation)

    def domain_reputation(
        self, domain: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[Reputation]:
        return self._run("DOMAIN_REPUTATION", domain, None, providers, no_cache, parse_reputation)

    def url_reputation(
        self, url: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[Reputation]:
        """``url`` may be defanged (``hxxps://evil[.]example/x``); the server refangs and normalizes it."""
        return self._run("URL_REPUTATION", url, None, providers, no_cache, parse_reputation)

    def team_oncall(
        self, team: str, at: At = None, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[OnCall]:
        return self._run("TEAM_ONCALL", team, at, providers, no_cache, parse_oncall)
