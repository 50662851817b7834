"""``type: http_json``: a REST source added by configuration alone.

Per query, a request template (method, path, query parameters, headers, JSON body; ``{value}`` and ``{at}`` and a
lookup table's variables, the value always encoded for where it goes), credentials (a header, bearer, basic, or
OAuth2 client credentials), and a response mapping: JMESPath expressions (the ``jmespath`` library) from the JSON
body to the query's answer fields, ``observed_at``, confidence and ``source_ref``. Statuses: 2xx is read; the
request's ``status`` table says what else means no data (404 by default); 401/403 → auth error, 429 →
rate limited with Retry-After, 5xx → unavailable (through ``positron.http`` like every HTTP provider). Rate limits,
timeouts, egress, weights and the rest are the common provider settings. Egress defaults to ``external``.

Everything is checked when the configuration loads, and errors name the key: a JMESPath that does not compile
(``requests.IP_REPUTATION.answer.verdict``), a field the query's answer lacks, a template variable that does not
exist, a query that is not in the catalog.
"""

from __future__ import annotations

from typing import ClassVar

from positron.queries import (
    DOMAIN_REPUTATION,
    HASH_REPUTATION,
    HOST_INFO,
    HOST_USER,
    HOSTNAME_TO_IP,
    IP_REPUTATION,
    IP_TO_HOSTNAME,
    IP_TO_MAC,
    IP_TO_USER,
    TEAM_ONCALL,
    URL_REPUTATION,
    USER_GROUPS,
    USER_INFO,
    USER_MANAGER,
)

from positron.provider import (
    Answer,
    Health,
    HttpResponse,
    HttpSource,
    Lookup,
    Provider,
    ProviderConfig,
    ProviderError,
    ProviderRateLimited,
    status_error,
)

from . import _mapping
from ._auth import Authenticator
from ._config import HttpJsonConfig, RequestSpec

# The queries a configuration may map (each has a test in tests/providers/test_http_json.py); a new catalog query
# joins this list with its test.
SUPPORTED = (
    IP_TO_HOSTNAME,
    HOSTNAME_TO_IP,
    IP_TO_MAC,
    USER_INFO,
    USER_MANAGER,
    USER_GROUPS,
    HASH_REPUTATION,
    IP_REPUTATION,
    DOMAIN_REPUTATION,
    URL_REPUTATION,
    TEAM_ONCALL,
    HOST_INFO,
    HOST_USER,
    IP_TO_USER,
)


class HttpJson(Provider[HttpJsonConfig]):
    type_name: ClassVar[str] = "http_json"
    Config: ClassVar[type[ProviderConfig]] = HttpJsonConfig

    def __init__(self, name: str, config: HttpJsonConfig) -> None:
        super().__init__(name, config)
        ssl = None if config.verify_tls else False
        self._auth = Authenticator(config.auth, config.timeout_s, ssl)
        self._http = HttpSource(
            config.base_url,
            headers={"Accept": "application/json", **config.headers, **self._auth.static_headers()},
            timeout_s=config.timeout_s,
            max_connections=config.max_concurrency,
            ssl=ssl,
        )

    def serves(self) -> list[str]:
        names = sorted(set(self.config.requests) & set(self.supported_queries()))
        return names if self.config.queries is None else [n for n in names if n in self.config.queries]

    async def open(self) -> None:
        await self._auth.open()
        await self._http.open()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._auth.aclose()

    async def health(self) -> Health:
        """Only what can be known without spending a lookup: the client is open and, for OAuth2, a token comes."""
        try:
            await self._auth.prepare(self._http)
        except ProviderError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=self._http.is_open, detail=f"{len(self.serves())} queries mapped to {self._http.label}")

    async def answer(self, lookup: Lookup) -> list[Answer[object]]:
        spec = self.config.requests[lookup.query.name]
        values = _mapping.variables(spec, lookup)
        if values is None:
            return []  # the lookup table does not know this value: nothing to ask
        await self._auth.prepare(self._http)
        response = await self._send(spec, values)
        if response.status == 401 and self._auth.refreshable:
            await self._auth.prepare(self._http, renew=True)  # an expired or revoked token: one fresh try
            response = await self._send(spec, values)
        meaning = spec.status.get(response.status)
        if meaning == "no_data":
            return []
        if meaning == "rate_limited":
            raise ProviderRateLimited(f"{response.label}: HTTP {response.status}", retry_after=response.retry_after)
        if not 200 <= response.status < 300 or meaning == "error":
            raise status_error(response, f"on {lookup.query.name}")
        return _mapping.answers(spec, lookup, response.json(), response.label)

    async def _send(self, spec: RequestSpec, values: dict[str, str]) -> HttpResponse:
        return await self._http.request(
            spec.method,
            _mapping.render(spec.path, values, quoted=True),
            params=_mapping.params(spec, values),
            headers=_mapping.headers(spec, values),
            json_body=_mapping.render_body(spec.body, values) if spec.body is not None else None,
        )


async def _handle(provider: HttpJson, lookup: Lookup) -> list[Answer[object]]:
    return await provider.answer(lookup)


HttpJson.handlers = {query.name: _handle for query in SUPPORTED}

__all__ = ["SUPPORTED", "HttpJson", "HttpJsonConfig"]
