"""HTTP plumbing every HTTP provider shares: one session per instance, transport errors and rate headers
translated into provider errors in one place (as httpx maps its transport exceptions once).

A provider builds one ``HttpSource`` in ``__init__``, opens it in ``open()``, closes it in ``aclose()``, and calls
``get``/``request``. What it gets back is an ``HttpResponse`` (status, headers, body) for any status; it decides
what its own statuses mean and hands the rest to ``raise_for_status``:

    transport                                   provider error
    asyncio/aiohttp timeout                 →   ProviderTimeout      "<label> did not answer within N s"
    connection not made (refused, DNS, TLS) →   ProviderUnreachable  "cannot reach <label> (<ExceptionType>)"
    aiohttp.ClientError (reset, …)          →   ProviderUnavailable  "cannot reach <label> (<ExceptionType>)"

    status (raise_for_status)
    401                                     →   ProviderAuthError    "the credentials were refused"
    403                                     →   ProviderAuthError    "permission denied"
    429                                     →   ProviderRateLimited  (retry_after from Retry-After or the
                                                                       RateLimit-Reset / X-RateLimit-Reset family)
    5xx                                     →   ProviderUnavailable
    anything else                           →   BadResponse

Messages name the source by its label (the instance's host, never its URL's query or credentials); a library's
exception text is never copied into a message. ``timeout_s`` bounds each HTTP call; the engine's deadline bounds
the whole answer.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any

import aiohttp
from multidict import CIMultiDictProxy
from pydantic import AfterValidator
from yarl import URL

from positron.errors import (
    BadResponse,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
)
from positron.telemetry import tracing

Params = Mapping[str, str] | Sequence[tuple[str, str]] | None
RESET_HEADERS = ("RateLimit-Reset", "X-RateLimit-Reset", "X-RateLimit-RetryAfter")
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# a reset header larger than this is an epoch timestamp, not a delay in seconds
_EPOCH_THRESHOLD_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    label: str

    def json(self) -> Any:
        """The body as JSON; a body that is not JSON is a ``BadResponse`` naming the source."""
        try:
            return json.loads(self.body)
        except ValueError:
            raise BadResponse(f"{self.label} sent a body that is not JSON (HTTP {self.status})") from None

    @property
    def retry_after(self) -> float | None:
        return retry_after(self.headers)

    @property
    def error_code(self) -> str | None:
        """The ``error.code`` of a JSON error document ``{"error": {"code": ...}}`` (PagerDuty, VirusTotal and
        many REST APIs answer so) when it is a number or a short word. The free-text message is never kept: it
        can echo what was sent."""
        try:
            doc = json.loads(self.body)
        except ValueError:
            return None
        error = doc.get("error") if isinstance(doc, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        if isinstance(code, int) and not isinstance(code, bool):
            return str(code)
        return code if isinstance(code, str) and _ERROR_CODE.match(code) else None


class HttpSource:
    """One aiohttp session for one provider instance: its base URL, default headers, per-call timeout and
    connection limit. Redirects are not followed (a redirect is an unexpected answer)."""

    def __init__(
        self,
        base_url: str,
        *,
        label: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float,
        max_connections: int = 100,
        ssl: Any = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.label = label or URL(base_url).host or "the source"
        self.timeout_s = timeout_s
        self._headers = dict(headers or {})
        self._max_connections = max_connections
        self._ssl = ssl
        self._session: aiohttp.ClientSession | None = None

    @property
    def is_open(self) -> bool:
        return self._session is not None

    async def open(self) -> None:
        if self._session is not None:
            return
        self._session = aiohttp.ClientSession(
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            connector=aiohttp.TCPConnector(limit=self._max_connections, ssl=self._ssl),
            raise_for_status=False,
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def set_header(self, name: str, value: str) -> None:
        """Change a default header (e.g. a refreshed bearer token) for every later call."""
        self._headers[name] = value
        if self._session is not None:
            self._session.headers[name] = value

    async def get(self, path: str, *, params: Params = None, headers: Mapping[str, str] | None = None) -> HttpResponse:
        return await self.request("GET", path, params=params, headers=headers)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Any = None,
    ) -> HttpResponse:
        """One call; ``path`` is appended to the base URL (an absolute ``http(s)://`` URL is used as is, for
        paging links a service hands back)."""
        if self._session is None:
            raise ProviderUnavailable(f"{self.label}: the provider is not open")
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        headers = dict(headers or {})
        tracing.inject(headers)  # W3C traceparent of the provider call's span, when tracing is on
        try:
            async with self._session.request(
                method, url, params=params, headers=headers, json=json_body, data=data, allow_redirects=False
            ) as resp:
                return HttpResponse(resp.status, resp.headers, await resp.read(), self.label)
        except TimeoutError as exc:
            raise ProviderTimeout(f"{self.label} did not answer within {self.timeout_s:g} s") from exc
        except aiohttp.ClientConnectorError as exc:  # nothing was sent: not retried (positron.errors)
            raise ProviderUnreachable(f"cannot reach {self.label} ({type(exc).__name__})") from exc
        except aiohttp.ClientError as exc:
            raise ProviderUnavailable(f"cannot reach {self.label} ({type(exc).__name__})") from exc


def check_base_url(value: str) -> str:
    """An http(s) root with a host and no credentials, query or fragment, without its trailing slash. The error
    never echoes the value: it could hold a secret."""
    url = URL(value.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an http(s) URL with a host, such as https://api.example.com")
    if url.user or url.password or url.query_string or url.fragment:
        raise ValueError("must not carry credentials, a query or a fragment")
    return str(url).rstrip("/")


BaseUrl = Annotated[str, AfterValidator(check_base_url)]
"""A config field holding an HTTP provider's base URL (checked by ``check_base_url``)."""


def status_error(response: HttpResponse, detail: str = "") -> ProviderError:
    """The provider error for a status the provider did not handle itself (see the table above)."""
    status = response.status
    where = f"{response.label}: HTTP {status}" + (f", {detail}" if detail else "")
    if status == 401:
        return ProviderAuthError(f"{where}: the credentials were refused")
    if status == 403:
        return ProviderAuthError(f"{where}: permission denied (the credentials may not do this)")
    if status == 429:
        return ProviderRateLimited(f"{where}: rate limited", retry_after=response.retry_after)
    if status >= 500:
        return ProviderUnavailable(f"{where}: server error")
    return BadResponse(f"{where}: unexpected answer")


def raise_for_status(response: HttpResponse, detail: str = "") -> None:
    """Return on 2xx; raise ``status_error`` otherwise."""
    if not 200 <= response.status < 300:
        raise status_error(response, detail)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait before the next call: ``Retry-After`` (delta-seconds or an HTTP date), else the first of
    the ``RateLimit-Reset`` family (seconds, or an epoch timestamp). None when no header says."""
    value = headers.get("Retry-After")
    if value is not None:
        seconds = _seconds(value)
        if seconds is not None:
            return seconds
        return _until_http_date(value)
    for name in RESET_HEADERS:
        raw = headers.get(name)
        if raw is None:
            continue
        seconds = _seconds(raw)
        if seconds is None:
            continue
        if seconds > _EPOCH_THRESHOLD_S:
            return max(0.0, seconds - datetime.now(UTC).timestamp())
        return seconds
    return None


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _until_http_date(value: str) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


__all__ = [
    "BaseUrl",
    "HttpResponse",
    "HttpSource",
    "check_base_url",
    "raise_for_status",
    "retry_after",
    "status_error",
]
