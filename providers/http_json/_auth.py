"""Credentials for an ``http_json`` instance: a header, a bearer token, HTTP Basic, or an OAuth2 client-credentials
token (RFC 6749 §4.4) fetched from the token endpoint, kept until shortly before it expires and fetched again
after a 401. Secrets are unwrapped here only, into request headers; they never reach a message."""

from __future__ import annotations

import asyncio
import base64
import time
from urllib.parse import quote

from positron.provider import BadResponse, HttpSource, ProviderAuthError, raise_for_status

from ._config import Auth, BasicAuth, BearerAuth, HeaderAuth, OAuth2ClientCredentials

EXPIRY_MARGIN_S = 30.0  # fetch a new token this long before the old one expires


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Authenticator:
    def __init__(self, auth: Auth | None, timeout_s: float, ssl: bool | None) -> None:
        self.auth = auth
        self._token_source: HttpSource | None = None
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        if isinstance(auth, OAuth2ClientCredentials):
            self._token_source = HttpSource(auth.token_url, timeout_s=timeout_s, max_connections=2, ssl=ssl)

    def static_headers(self) -> dict[str, str]:
        auth = self.auth
        if isinstance(auth, HeaderAuth):
            return {auth.name: auth.prefix + auth.value.get_secret_value()}
        if isinstance(auth, BearerAuth):
            return {"Authorization": f"Bearer {auth.token.get_secret_value()}"}
        if isinstance(auth, BasicAuth):
            return {"Authorization": basic(auth.username, auth.password.get_secret_value())}
        return {}

    @property
    def refreshable(self) -> bool:
        return self._token_source is not None

    async def open(self) -> None:
        if self._token_source is not None:
            await self._token_source.open()

    async def aclose(self) -> None:
        if self._token_source is not None:
            await self._token_source.aclose()

    async def prepare(self, api: HttpSource, *, renew: bool = False) -> None:
        """Make sure ``api`` sends a valid OAuth2 token (a no-op for the other kinds)."""
        if self._token_source is None:
            return
        async with self._lock:
            if renew or self._token is None or time.monotonic() >= self._expires:
                self._token, lifetime = await self._fetch()
                self._expires = time.monotonic() + max(0.0, lifetime - EXPIRY_MARGIN_S)
            api.set_header("Authorization", f"Bearer {self._token}")

    async def _fetch(self) -> tuple[str, float]:
        auth = self.auth
        assert isinstance(auth, OAuth2ClientCredentials) and self._token_source is not None
        form = {"grant_type": "client_credentials"} | ({"scope": auth.scope} if auth.scope else {})
        # RFC 6749 §2.3.1: client id and secret form-urlencoded, then HTTP Basic
        header = basic(quote(auth.client_id, safe=""), quote(auth.client_secret.get_secret_value(), safe=""))
        response = await self._token_source.request(
            "POST", auth.token_url, data=form, headers={"Authorization": header, "Accept": "application/json"}
        )
        if response.status in (400, 401):
            raise ProviderAuthError(f"{response.label}: HTTP {response.status}: the client credentials were refused")
        raise_for_status(response, "from the token endpoint")
        doc = response.json()
        token = doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise BadResponse(f"{response.label}: the token endpoint answered without an access_token")
        lifetime = doc.get("expires_in", 3600)
        return token, float(lifetime) if isinstance(lifetime, int | float) and not isinstance(
            lifetime, bool
        ) else 3600.0
