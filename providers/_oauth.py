"""OAuth2 client-credential tokens for the providers that use them (crowdstrike, entra_id): one cache per
instance, so a token is fetched once and shared by every lookup, not once per call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from positron.provider import BadResponse, HttpResponse


class TokenCache:
    """A bearer token from ``fetch`` (→ token, lifetime in seconds), reused until ``refresh_margin_s`` before it
    expires — a short-lived token for at least half its life — and fetched again when asked to (``force``, after
    the API answered 401). One fetch at a time, however many lookups wait for it; ``requests`` counts fetches."""

    def __init__(self, fetch: Callable[[], Awaitable[tuple[str, float]]], refresh_margin_s: float) -> None:
        self._fetch = fetch
        self._margin = refresh_margin_s
        self._token: str | None = None
        self._expires = 0.0  # time.monotonic() when the token must no longer be used
        self._lock = asyncio.Lock()
        self.requests = 0

    async def get(self, force: bool = False) -> str:
        async with self._lock:
            if force or self._token is None or time.monotonic() >= self._expires:
                self.requests += 1
                self._token, lifetime = await self._fetch()
                self._expires = time.monotonic() + max(lifetime / 2, lifetime - self._margin)
            return self._token

    def clear(self) -> None:
        self._token = None


def token_from(response: HttpResponse) -> tuple[str, float]:
    """``access_token`` and ``expires_in`` of a token endpoint's JSON answer (RFC 6749 §5.1)."""
    body = response.json()
    body = body if isinstance(body, dict) else {}
    token, lifetime = body.get("access_token"), body.get("expires_in")
    if not isinstance(token, str) or not token or isinstance(lifetime, bool) or not isinstance(lifetime, int | float):
        raise BadResponse(f"{response.label}: the token response has no access_token and expires_in")
    return token, float(lifetime)
