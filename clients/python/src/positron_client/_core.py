"""What the sync and async clients share, without I/O: settings, each request as a ``Call`` (method, path, body
and how to read the answer), reading responses into results or typed errors, the retry policy (connection errors
and 502/503/504 only, exponential backoff with jitter), and reading a streamed batch (NDJSON, never retried once a
result has been delivered). A client only does the I/O: send a ``Call``, sleep the delay the policy returns."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from positron_client._exceptions import (
    ConfigurationError,
    ConnectionFailed,
    RequestTimeout,
    TransportError,
    UnexpectedResponse,
    error_for_status,
)
from positron_client._models import QueryInfo, QueryResult, parse_provider_info, parse_query_info, parse_result
from positron_client._queries import canonical_name, value_parser
from positron_client._version import __version__
from positron_client._workflows import (
    BATCH_PATH,
    ENRICH_PATH,
    NDJSON,
    BatchItemLike,
    BatchItemResult,
    EnrichInput,
    EnrichResult,
    StreamTally,
    batch_body,
    enrich_body,
    parse_batch,
    parse_enrich,
    parse_ndjson_line,
)

T = TypeVar("T")
At = datetime | str | None

DEFAULT_TIMEOUT_S = 30.0
RETRY_STATUSES = frozenset({502, 503, 504})
MAX_BACKOFF_S = 10.0
# Connection-level failures: the request did not reach the server or the connection died before an answer.
# Timeouts other than the connect timeout are not here: the server may still be working on the request.
RETRY_EXCEPTIONS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True, slots=True)
class Settings:
    url: str
    headers: dict[str, str]
    timeout: httpx.Timeout
    max_retries: int
    backoff_s: float


def settings(
    url: str | None, api_key: str | None, timeout: float | httpx.Timeout, max_retries: int, backoff_s: float
) -> Settings:
    url = url or os.environ.get("POSITRON_URL")
    api_key = api_key or os.environ.get("POSITRON_API_KEY")
    if not url:
        raise ConfigurationError("no Positron URL: pass url= or set POSITRON_URL")
    if not api_key:
        raise ConfigurationError("no API key: pass api_key= or set POSITRON_API_KEY")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"not a URL: {url[:200]!r}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(f"expected an http(s) URL such as https://positron.example:8080, got {url[:200]!r}")
    if max_retries < 0 or backoff_s < 0:
        raise ConfigurationError("max_retries and backoff_s must not be negative")
    return Settings(
        url=url.rstrip("/"),
        headers={"Authorization": f"Bearer {api_key}", "User-Agent": f"positron-client/{__version__}"},
        timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
        max_retries=max_retries,
        backoff_s=backoff_s,
    )


def query_path(name: str) -> str:
    return "/v1/queries/" + quote(name.strip(), safe="")


def query_body(
    value: str,
    at: datetime | str | None,
    providers: Sequence[str] | None,
    no_cache: bool,
    tlp: int | str | None,
) -> dict[str, Any]:
    """The request body; optional fields only when set, so older servers see only what they know."""
    body: dict[str, Any] = {"value": value}
    if at is not None:
        body["at"] = at.isoformat() if isinstance(at, datetime) else at
    if providers is not None:
        body["providers"] = list(providers)
    if no_cache:
        body["no_cache"] = True
    if tlp is not None:
        body["tlp"] = tlp
    return body


# --- requests, built without I/O --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request and how to read its answer; ``read`` turns a body that is not what Positron sends into
    UnexpectedResponse."""

    method: str
    path: str
    parse: Callable[[Any], T]
    body: dict[str, Any] | None = None

    def read(self, raw: Any) -> T:
        return parse_body(self.path, self.parse, raw)


def query_call(
    name: str, value: str, at: At, providers: Sequence[str] | None, no_cache: bool, tlp: int | str | None = None
) -> Call[QueryResult[Any]]:
    """A query by name; a standard query's answer values are parsed into their types, others stay plain JSON."""
    parse = value_parser(name)
    body = query_body(value, at, providers, no_cache, tlp)
    return Call("POST", query_path(canonical_name(name)), lambda raw: parse_result(raw, parse), body)


def query_info_call(name: str) -> Call[QueryInfo]:
    return Call("GET", query_path(canonical_name(name)), parse_query_info)


def _list(parse: Callable[[Any], T]) -> Callable[[Any], list[T]]:
    return lambda raw: [parse(item) for item in raw]


QUERIES = Call("GET", "/v1/queries", _list(parse_query_info))
PROVIDERS = Call("GET", "/v1/providers", _list(parse_provider_info))


def _document(raw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = raw
    return spec


OPENAPI = Call("GET", "/openapi.json", _document)


def batch_call(items: Iterable[BatchItemLike], no_cache: bool, tlp: int | str | None) -> Call[list[BatchItemResult]]:
    return Call("POST", BATCH_PATH, parse_batch, batch_body(items, no_cache, tlp))


def enrich_call(
    alert_or_observables: EnrichInput, queries: Sequence[str] | None, at: At, tlp: int | str | None
) -> Call[EnrichResult]:
    return Call("POST", ENRICH_PATH, parse_enrich, enrich_body(alert_or_observables, queries, at, tlp))


# --- the retry policy: each returns the seconds to sleep before the next attempt -------------------------------


def attempts(settings: Settings) -> range:
    return range(settings.max_retries + 1)


def delay_after_error(settings: Settings, attempt: int, exc: Exception, tally: StreamTally | None = None) -> float:
    """After a connection-level failure (RETRY_EXCEPTIONS): the delay, or ConnectionFailed when this was the last
    attempt or a stream had already delivered results."""
    if tally is not None and tally.started:
        raise ConnectionFailed(stream_broken(settings.url, exc, len(tally.seen), tally.expected)) from exc
    if attempt == settings.max_retries:
        raise ConnectionFailed(connection_failed(settings.url, exc, attempt + 1)) from exc
    return retry_delay(attempt, settings.backoff_s)


def delay_after_status(settings: Settings, attempt: int, response: httpx.Response) -> float | None:
    """The delay when this answer (502/503/504) is retried and attempts are left; None to read it."""
    if response.status_code not in RETRY_STATUSES or attempt == settings.max_retries:
        return None
    return retry_delay(attempt, settings.backoff_s, retry_after(response))


def transport_error(url: str, exc: httpx.HTTPError) -> TransportError:
    """Any other httpx failure: a timeout is never retried (the server may still be working)."""
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeout(timed_out(url, exc))
    return TransportError(connection_failed(url, exc, 1))


def retry_delay(attempt: int, backoff_s: float, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff for retry number ``attempt`` (0-based); a server's Retry-After is honoured
    up to MAX_BACKOFF_S."""
    delay = random.uniform(0, backoff_s * 2**attempt)  # jitter, not cryptography
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, MAX_BACKOFF_S)


def retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def read(response: httpx.Response) -> Any:
    """A response's JSON body, or the typed error it carries."""
    if response.is_success:
        try:
            return response.json()
        except ValueError:
            raise UnexpectedResponse(
                f"HTTP {response.status_code} from {response.request.url} is not JSON: {_snippet(response)}"
            ) from None
    code, message, details = _error_fields(response)
    raise error_for_status(response.status_code, code, message, details)


def _error_fields(response: httpx.Response) -> tuple[str, str, list[dict[str, Any]] | None]:
    """Positron's ``{"error": {code, message, details}}``; anything else (a proxy's page) → its status text."""
    try:
        error = response.json()["error"]
        details = error.get("details")
        return str(error["code"]), str(error["message"]), details if isinstance(details, list) else None
    except (ValueError, KeyError, TypeError, AttributeError):
        fallback = response.reason_phrase or "error"
        return "http_error", f"{fallback}: {_snippet(response)}" if response.content else fallback, None


def _snippet(response: httpx.Response) -> str:
    return response.text[:200].strip()


def parse_body(path: str, parse: Callable[[Any], T], raw: Any) -> T:
    """``parse(raw)``, or UnexpectedResponse when the body is not what Positron sends for ``path``."""
    try:
        return parse(raw)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise unexpected(path, exc) from None


# --- the streamed batch (NDJSON) -------------------------------------------------------------------------------

STREAM_HEADERS = {"Accept": NDJSON}


def is_ndjson(response: httpx.Response) -> bool:
    """Whether a batch answer streams; an error, or a server (or proxy) that ignored Accept, sends one JSON body."""
    return response.is_success and response.headers.get("content-type", "").startswith(NDJSON)


def whole_batch(response: httpx.Response) -> list[BatchItemResult]:
    """A batch answer that came as one (already read) body: its results, or the typed error it carries."""
    return parse_body(BATCH_PATH, parse_batch, read(response))


def stream_line(line: str) -> BatchItemResult | None:
    return parse_body(BATCH_PATH, parse_ndjson_line, line)


def stream_tally(call: Call[list[BatchItemResult]]) -> StreamTally:
    """What a streamed batch should deliver: one result per item of the call's body."""
    return StreamTally(len(call.body["items"]) if call.body else 0)


def check_complete(tally: StreamTally) -> None:
    """At the end of a stream: UnexpectedResponse naming what it did not deliver."""
    if (missing := tally.missing()) is not None:
        raise UnexpectedResponse(missing)


def stream_broken(url: str, exc: Exception, got: int, expected: int) -> str:
    return (
        f"the connection to Positron at {url} dropped after {got} of {expected} batch results "
        f"(not retried: results were already delivered): {type(exc).__name__}: {exc}"
    )


def unexpected(path: str, exc: Exception) -> UnexpectedResponse:
    return UnexpectedResponse(f"the answer to {path} is not what Positron sends ({type(exc).__name__}: {exc})")


def connection_failed(url: str, exc: Exception, attempts: int) -> str:
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    return f"could not reach Positron at {url}{tries}: {type(exc).__name__}: {exc}"


def timed_out(url: str, exc: Exception) -> str:
    return f"Positron at {url} did not answer in time ({type(exc).__name__})"
