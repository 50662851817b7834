"""The asyncio client: the same API as ``Positron``, awaited."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from contextlib import aclosing
from types import TracebackType
from typing import Any, TypeVar

import httpx

from positron_client import _core
from positron_client._core import At
from positron_client._models import (
    HostInfo,
    OnCall,
    Person,
    ProviderInfo,
    QueryInfo,
    QueryResult,
    Reputation,
    UserInfo,
)
from positron_client._workflows import (
    BATCH_PATH,
    BatchItemLike,
    BatchItemResult,
    EnrichInput,
    EnrichResult,
    StreamTally,
)

T = TypeVar("T")


class AsyncPositron:
    """A Positron server, from asyncio.

    ``url`` and ``api_key`` default to ``POSITRON_URL`` and ``POSITRON_API_KEY``. ``timeout`` (seconds, or an
    ``httpx.Timeout``) bounds each attempt. Connection errors and 502/503/504 answers are retried ``max_retries``
    times with full-jitter exponential backoff starting at ``backoff_s``; nothing else is retried. ``verify`` is
    passed to httpx (``False``, a CA bundle path or an ``ssl.SSLContext``).

        async with AsyncPositron("https://positron.corp.example", api_key) as positron:
            (await positron.ip_to_hostname("10.20.0.42")).best      # 'ws-042.corp.example'
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
        self._http = httpx.AsyncClient(
            base_url=self._settings.url, headers=self._settings.headers, timeout=self._settings.timeout, verify=verify
        )

    @property
    def url(self) -> str:
        return self._settings.url

    def __repr__(self) -> str:
        return f"AsyncPositron(url={self.url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPositron:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- transport -------------------------------------------------------------------------------------------

    async def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        s = self._settings
        for attempt in _core.attempts(s):
            try:
                response = await self._http.request(method, path, json=body)
            except _core.RETRY_EXCEPTIONS as exc:
                await asyncio.sleep(_core.delay_after_error(s, attempt, exc))
                continue
            except httpx.HTTPError as exc:
                raise _core.transport_error(s.url, exc) from exc
            if (delay := _core.delay_after_status(s, attempt, response)) is not None:
                await asyncio.sleep(delay)
                continue
            return _core.read(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call(self, call: _core.Call[T]) -> T:
        return call.read(await self._send(call.method, call.path, call.body))

    # --- generic ---------------------------------------------------------------------------------------------

    async def query(
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
        return await self._call(_core.query_call(name, value, at, providers, no_cache, tlp))

    async def queries(self) -> list[QueryInfo]:
        """Every query the server knows, with its input, output schema and the providers that answer it."""
        return await self._call(_core.QUERIES)

    async def query_info(self, name: str) -> QueryInfo:
        return await self._call(_core.query_info_call(name))

    async def providers(self) -> list[ProviderInfo]:
        """The configured provider instances and their health (never a secret)."""
        return await self._call(_core.PROVIDERS)

    async def openapi(self) -> dict[str, Any]:
        """The server's OpenAPI document."""
        return await self._call(_core.OPENAPI)

    # --- workflows: many lookups at once, and alert enrichment -------------------------------------------------

    async def batch(
        self, items: Iterable[BatchItemLike], *, no_cache: bool = False, tlp: int | str | None = None
    ) -> list[BatchItemResult]:
        """Run many queries in one request; results come back in request order. ``items`` are ``BatchItem``s,
        ``(query, value)`` / ``(query, value, at)`` tuples or ``{"query", "value", "at"?}`` dicts. An item's own
        failure (unknown query, invalid value, denied) is its ``error``, not an exception; identical items run once."""
        return await self._call(_core.batch_call(items, no_cache, tlp))

    async def iter_batch(
        self, items: Iterable[BatchItemLike], *, no_cache: bool = False, tlp: int | str | None = None
    ) -> AsyncIterator[BatchItemResult]:
        """Like ``batch()``, yielding each result as the server finishes it (completion order; ``.index`` says
        which item), for progress. Retried like ``query()`` only until the first result has been yielded."""
        call = _core.batch_call(items, no_cache, tlp)
        tally = _core.stream_tally(call)
        s = self._settings
        for attempt in _core.attempts(s):
            try:
                async with self._http.stream(
                    "POST", BATCH_PATH, json=call.body, headers=_core.STREAM_HEADERS
                ) as response:
                    delay = _core.delay_after_status(s, attempt, response)
                    if delay is None:
                        async with aclosing(self._stream(response, tally)) as results:
                            async for result in results:
                                yield result
                        return
            except _core.RETRY_EXCEPTIONS as exc:
                delay = _core.delay_after_error(s, attempt, exc, tally)
            except httpx.HTTPError as exc:
                raise _core.transport_error(s.url, exc) from exc
            await asyncio.sleep(delay)

    async def _stream(self, response: httpx.Response, tally: StreamTally) -> AsyncGenerator[BatchItemResult, None]:
        if not _core.is_ndjson(response):
            await response.aread()
            for whole in _core.whole_batch(response):
                yield tally.add(whole)
            return
        async for line in response.aiter_lines():
            if (result := _core.stream_line(line)) is not None:
                yield tally.add(result)
        _core.check_complete(tally)

    async def enrich(
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
        return await self._call(_core.enrich_call(alert_or_observables, queries, at, tlp))

    # --- one method per standard query -------------------------------------------------------------------------

    async def ip_to_hostname(
        self, ip: str, at: At = None, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[str]:
        return await self._call(_core.query_call("IP_TO_HOSTNAME", ip, at, providers, no_cache))

    async def hostname_to_ip(
        self, hostname: str, at: At = None, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[str]:
        return await self._call(_core.query_call("HOSTNAME_TO_IP", hostname, at, providers, no_cache))

    async def ip_to_mac(
        self, ip: str, at: At = None, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[str]:
        return await self._call(_core.query_call("IP_TO_MAC", ip, at, providers, no_cache))

    async def user_info(
        self, user: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[UserInfo]:
        return await self._call(_core.query_call("USER_INFO", user, None, providers, no_cache))

    async def user_manager(
        self, user: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[Person]:
        return await self._call(_core.query_call("USER_MANAGER", user, None, providers, no_cache))

    async def user_groups(
        self, user: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[list[str]]:
        return await self._call(_core.query_call("USER_GROUPS", user, None, providers, no_cache))

    async def hash_reputation(
        self, file_hash: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[Reputation]:
        return await self._call(_core.query_call("HASH_REPUTATION", file_hash, None, providers, no_cache))

    async def ip_reputation(
        self, ip: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[Reputation]:
        return await self._call(_core.query_call("IP_REPUTATION", ip, None, providers, no_cache))

    async def domain_reputation(
        self, domain: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[Reputation]:
        return await self._call(_core.query_call("DOMAIN_REPUTATION", domain, None, providers, no_cache))

    async def url_reputation(
        self, url: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[Reputation]:
        """``url`` may be defanged (``hxxps://evil[.]example/x``); the server refangs and normalizes it."""
        return await self._call(_core.query_call("URL_REPUTATION", url, None, providers, no_cache))

    async def team_oncall(
        self, team: str, at: At = None, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[OnCall]:
        return await self._call(_core.query_call("TEAM_ONCALL", team, at, providers, no_cache))

    async def ip_to_user(
        self, ip: str, at: At = None, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[str]:
        """Who was using the machine that held ``ip`` at ``at`` (or now)."""
        return await self._call(_core.query_call("IP_TO_USER", ip, at, providers, no_cache))

    async def host_user(
        self, hostname: str, at: At = None, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[str]:
        """The user logged on to ``hostname`` at ``at`` (or now)."""
        return await self._call(_core.query_call("HOST_USER", hostname, at, providers, no_cache))

    async def host_info(
        self, hostname: str, providers: Sequence[str] | None = None, no_cache: bool = False
    ) -> QueryResult[HostInfo]:
        return await self._call(_core.query_call("HOST_INFO", hostname, None, providers, no_cache))
