"""Elasticsearch 8.x and OpenSearch 2.x: answers the queries that config maps to search templates — who held an
address, what address a host had, the MAC behind an address, who logged on from an address or to a host — from
the logs kept there (DHCP, Windows 4624 logons, VPN and proxy logs, EDR telemetry).

Each template (``searches: {QUERY: {index, match, field, ...}}``) becomes one ``POST /<index>/_search`` whose
query DSL is built as data: the looked-up value goes in as a ``term`` on each ``match`` field (any of them), never
into a query string, so no input changes the search. ``at`` becomes a ``range`` on ``time_field``
(``at - window_before_s`` .. ``at + window_after_s``); without it, the last ``default_window_s``. Hits come newest
first (``sort`` on ``time_field``, then ``tiebreaker`` if set); when a page is full the next is read with
``search_after`` (no scroll context to clean up), up to ``max_hits``.

Authentication: an API key (``Authorization: ApiKey <encoded>``) or a user and password (Basic); TLS verified
against ``ca_file`` when given. Product check: an Elasticsearch answer must carry ``X-Elastic-Product:
Elasticsearch`` (Elastic's own clients refuse others); for ``product: opensearch`` the header is not expected and
``health()`` checks ``version.distribution``. Errors go through positron/http.py (401/403, 429 with Retry-After,
5xx); Elasticsearch's ``error.type`` (never its ``reason``, which echoes the query) names the problem.

Answers: one per distinct value, newest first, ``confidence`` from the template (default 0.85), ``observed_at`` the
newest hit's ``time_field``, ``source_ref`` ``<index>/_doc/<_id>`` of that hit.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from positron.providers._assets import CaFile
from positron.queries import HOST_USER, HOSTNAME_TO_IP, IP_TO_HOSTNAME, IP_TO_MAC, IP_TO_USER, canonical_name
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from positron.provider import (
    Answer,
    BadResponse,
    BaseUrl,
    Health,
    HttpProvider,
    HttpResponse,
    HttpSource,
    InvalidInput,
    Lookup,
    ProviderConfig,
    ProviderError,
    Secret,
    UnsupportedInput,
    answers,
    normalize_hostname,
    normalize_ip,
    normalize_mac,
    normalize_username,
    raise_for_status,
)

PRODUCT_HEADER = "X-Elastic-Product"
TEMPLATED = (IP_TO_HOSTNAME.name, HOSTNAME_TO_IP.name, IP_TO_MAC.name, IP_TO_USER.name, HOST_USER.name)
Hit = dict[str, Any]


class SearchTemplate(BaseModel):
    """How one query is asked of an index."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: str = Field(min_length=1, description="Index, alias, data stream or pattern (logs-*,dhcp)")
    match: list[str] = Field(min_length=1, description="Fields the value must equal (a term on any of them)")
    field: str = Field(min_length=1, description="The field holding the answer (dotted path, e.g. host.name)")
    time_field: str = Field(default="@timestamp", description="The event time: observed_at, sort, windows")
    filters: list[dict[str, Any]] = Field(default_factory=list, description="Extra query DSL filter clauses")
    window_before_s: float = Field(default=86_400.0, ge=0)
    window_after_s: float = Field(default=900.0, ge=0)
    default_window_s: float = Field(default=86_400.0, gt=0, description="Without at: the last this long")
    tiebreaker: str | None = Field(default=None, description="A unique sortable field (event.id) for search_after")
    page_size: int = Field(default=100, ge=1, le=10_000)
    max_hits: int = Field(default=500, ge=1, le=100_000, description="Hits read at most per lookup")
    confidence: float = Field(default=0.85, ge=0.0, le=1.0)

    @field_validator("index")
    @classmethod
    def _check_index(cls, value: str) -> str:
        if any(c in value for c in '/\\ ?#"<>|') or value.startswith(("_", "-")):
            raise ValueError("an index name, alias or pattern (no '/', spaces, '?', '#'; not starting with _ or -)")
        return value


class ElasticsearchConfig(ProviderConfig):
    url: BaseUrl = Field(description="The cluster, e.g. https://es.corp.example:9200")
    product: Literal["elasticsearch", "opensearch"] = "elasticsearch"
    api_key: Secret | None = Field(default=None, description="An encoded API key (id:key, base64) — Elastic")
    username: str | None = None
    password: Secret | None = None
    ca_file: CaFile | None = Field(default=None, description="PEM bundle to verify the cluster's certificate with")
    verify_tls: bool = True
    searches: dict[str, SearchTemplate] = Field(default_factory=dict, description="QUERY_NAME → template")

    @field_validator("searches", mode="before")
    @classmethod
    def _canonical_names(cls, value: Any) -> Any:
        return {canonical_name(str(k)): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _check(self) -> ElasticsearchConfig:
        if self.api_key is not None and (self.username or self.password):
            raise ValueError("give api_key, or username and password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("give username and password together")
        for name in self.searches:
            if name not in TEMPLATED:
                raise ValueError(f"searches: {name} cannot be answered by a search; use one of {TEMPLATED}")
        return self


class Elasticsearch(HttpProvider[ElasticsearchConfig]):
    type_name: ClassVar[str] = "elasticsearch"
    Config: ClassVar[type[ProviderConfig]] = ElasticsearchConfig

    def http_source(self) -> HttpSource:
        config = self.config
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if config.api_key is not None:
            headers["Authorization"] = f"ApiKey {config.api_key.get_secret_value()}"
        elif config.username is not None and config.password is not None:
            pair = f"{config.username}:{config.password.get_secret_value()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return HttpSource(
            config.url,
            headers=headers,
            timeout_s=config.timeout_s,
            max_connections=config.max_concurrency,
            ssl=_ssl(config),
        )

    def serves(self) -> list[str]:
        return [name for name in super().serves() if name in self.config.searches]

    async def health(self) -> Health:
        try:
            response = await self.http.get("/")
            self._check(response)
            version = response.json().get("version") or {}
        except (ProviderError, AttributeError) as exc:
            return Health(ok=False, detail=getattr(exc, "message", "malformed answer to GET /"))
        distribution = version.get("distribution", "elasticsearch") if isinstance(version, dict) else "?"
        if distribution != self.config.product:
            return Health(ok=False, detail=f"{self.http.label} is {distribution}, configured as {self.config.product}")
        return Health(ok=True, detail=f"{distribution} {version.get('number', '?')} at {self.http.label}")

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

    # --- searching ---

    async def _values(self, lookup: Lookup, normalize: Callable[[str], str]) -> list[Answer[str]]:
        template = self.config.searches.get(lookup.query.name)
        if template is None:
            raise UnsupportedInput(f"{self.name}: no search is configured for {lookup.query.name}")
        found: dict[str, Answer[str]] = {}
        for hit in await self._hits(template, lookup):
            raw_source = hit.get("_source")
            source: dict[str, Any] = raw_source if isinstance(raw_source, dict) else {}
            when = _time(_path(source, template.time_field))
            for raw in _strings(_path(source, template.field)):
                try:
                    value = normalize(raw)
                except InvalidInput:
                    continue
                if value not in found:  # hits are newest first: the first is the newest sighting
                    ref = f"{hit.get('_index', template.index)}/_doc/{hit.get('_id', '?')}"
                    found[value] = Answer(value, template.confidence, when, ref)
        return list(found.values())

    async def _hits(self, template: SearchTemplate, lookup: Lookup) -> list[Hit]:
        body = search_body(template, lookup.value, lookup.at)
        hits: list[Hit] = []
        while len(hits) < template.max_hits:
            body["size"] = min(template.page_size, template.max_hits - len(hits))
            response = await self.http.request("POST", f"/{template.index}/_search", json_body=body)
            self._check(response)
            page = _page(response)
            hits += page
            if len(page) < body["size"] or not isinstance(page[-1].get("sort"), list):
                break
            body["search_after"] = page[-1]["sort"]
        return hits

    def _check(self, response: HttpResponse) -> None:
        raise_for_status(response, _error_type(response))
        if self.config.product == "elasticsearch" and response.headers.get(PRODUCT_HEADER) != "Elasticsearch":
            raise BadResponse(f"{self.http.label} did not say it is Elasticsearch ({PRODUCT_HEADER} missing)")


def search_body(template: SearchTemplate, value: str, at: datetime | None) -> dict[str, Any]:
    """The query DSL: the value is a ``term`` (data, not query syntax) on any ``match`` field, within the window."""
    if at is None:
        now = datetime.now(UTC)
        start, end = now - timedelta(seconds=template.default_window_s), now
    else:
        start, end = at - timedelta(seconds=template.window_before_s), at + timedelta(seconds=template.window_after_s)
    window = {"gte": start.isoformat(), "lte": end.isoformat(), "format": "strict_date_optional_time"}
    terms: list[dict[str, Any]] = [{"term": {name: value}} for name in template.match]
    sort: list[dict[str, Any]] = [{template.time_field: {"order": "desc"}}]
    if template.tiebreaker:
        sort.append({template.tiebreaker: {"order": "desc"}})
    return {
        "query": {
            "bool": {
                "filter": [{"range": {template.time_field: window}}, *template.filters],
                "should": terms,
                "minimum_should_match": 1,
            }
        },
        "_source": [template.field, template.time_field],
        "sort": sort,
        "track_total_hits": False,
    }


def _page(response: HttpResponse) -> list[Hit]:
    body = response.json()
    hits = (body.get("hits") or {}).get("hits") if isinstance(body, dict) else None
    if not isinstance(hits, list) or not all(isinstance(h, dict) for h in hits):
        raise BadResponse(f"{response.label}: a search answer without hits.hits")
    if body.get("timed_out") is True:
        raise BadResponse(f"{response.label}: the search timed out on the cluster")
    return hits


def _error_type(response: HttpResponse) -> str:
    """Elasticsearch/OpenSearch ``error.type`` (index_not_found_exception, …); its reason is never kept."""
    try:
        error = response.json().get("error")
    except (BadResponse, AttributeError):
        return ""
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) and kind.replace("_", "").isalnum() and len(kind) < 80 else ""


def _path(source: dict[str, Any], dotted: str) -> Any:
    """``host.name`` in ``{"host": {"name": ...}}`` or ``{"host.name": ...}`` (both are valid _source shapes)."""
    if dotted in source:
        return source[dotted]
    node: Any = source
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str) and item.strip()]


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)  # epoch_millis, the default date format
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _ssl(config: ElasticsearchConfig) -> ssl.SSLContext | bool | None:
    if not config.verify_tls:
        return False
    return ssl.create_default_context(cafile=config.ca_file) if config.ca_file else None
