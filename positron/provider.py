"""The provider plugin interface.

A provider type is a subclass of ``Provider`` with a ``type_name``, a pydantic ``Config`` (a subclass of
``ProviderConfig``; credentials as ``Secret``), one ``@answers(QUERY)`` async handler per query it answers,
``open()``/``aclose()`` for its clients and ``health()``. An instance is one configured source (``ad_corp``);
two instances of one type are two objects with their own clients.

Handlers return a list of ``Answer`` (empty = found nothing) or raise a ``ProviderError``.

This module is a provider author's one import: besides the interface it re-exports the answer model
(``Answer``, ``Lookup``, ``Query``), the provider errors, ``Secret``, the input normalizers (to check what a
source sends back) and the HTTP plumbing of ``positron.http`` (``HttpSource``, ``raise_for_status``, ...). Query
objects and their output models come from ``positron.queries``. A meta-test (tests/core/test_layout.py) keeps
providers/ to these two.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

import anyio
import anyio.to_thread
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from positron.errors import (
    BadResponse,
    ConfigError,
    InvalidInput,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
    UnsupportedInput,
)
from positron.http import BaseUrl, HttpResponse, HttpSource, raise_for_status, retry_after, status_error
from positron.inputs import (
    normalize_domain,
    normalize_hash,
    normalize_hostname,
    normalize_ip,
    normalize_mac,
    normalize_team,
    normalize_url,
    normalize_username,
    url_host,
)
from positron.query import Answer, Lookup, Query
from positron.security.egress import Tlp, internal_reason, parse_tlp, tlp_rank
from positron.security.secrets import Secret

T = TypeVar("T")
R = TypeVar("R")
C = TypeVar("C", bound="ProviderConfig")
P = TypeVar("P", bound="Provider[Any]")

Handler = Callable[[Any, Lookup], Awaitable[list[Answer[Any]]]]


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int = Field(ge=1, description="Calls allowed in any window of per_s seconds")
    per_s: float = Field(ge=1, le=31_536_000, description="The window, in whole seconds")

    @field_validator("per_s")
    @classmethod
    def _whole_seconds(cls, per_s: float) -> float:
        if per_s != int(per_s):
            raise ValueError("per_s is a whole number of seconds (windows are counted in seconds)")
        return per_s


class ProviderConfig(BaseModel):
    """Settings every provider instance has; a provider's own ``Config`` adds its fields."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="The provider type (an entry point in the positron.providers group)")
    enabled: bool = True
    weight: float = Field(default=1.0, ge=0.0, le=1.0, description="How much this source is trusted (0..1)")
    weights: dict[str, float] = Field(default_factory=dict, description="Per-query weight overrides")
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="Per-call timeout")
    max_concurrency: int = Field(default=16, ge=1, le=1024, description="Calls in flight at once")
    queries: list[str] | None = Field(default=None, description="Restrict to these queries (default: all)")
    egress: Literal["internal", "external"] = Field(
        default="internal",
        description="external: a third-party service; internal values are never sent to it",
    )
    max_tlp: Annotated[Tlp | None, BeforeValidator(parse_tlp)] = Field(
        default=None, description="Most sensitive TLP it may receive (default: red if internal, amber if external)"
    )
    allow_internal: bool = Field(default=False, description="external only: send internal values to it anyway")
    rate_limits: list[RateLimit] = Field(
        default_factory=list, description="At most N calls in any window of per_s seconds, e.g. 4 per 60 s"
    )
    required: bool = Field(default=False, description="/ready answers 503 while this instance is unhealthy")
    cache_ttl_s: float | None = Field(default=None, ge=0, description="Cache answers this long (default: per query)")
    no_data_ttl_s: float | None = Field(default=None, ge=0, description="Cache 'found nothing' this long")

    def weight_for(self, query: Query[Any]) -> float:
        return self.weights.get(query.name, self.weight)


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    detail: str = ""


def answers(query: Query[T]) -> Callable[[Callable[[P, Lookup], Awaitable[list[Answer[T]]]]], Any]:
    """Mark an async method as this provider's handler for ``query``."""

    def mark(fn: Callable[[P, Lookup], Awaitable[list[Answer[T]]]]) -> Any:
        fn.__positron_query__ = query  # type: ignore[attr-defined]
        return fn

    return mark


class Provider(Generic[C]):
    type_name: ClassVar[str]
    Config: ClassVar[type[ProviderConfig]] = ProviderConfig
    handlers: ClassVar[dict[str, Handler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, Handler] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                query = getattr(attr, "__positron_query__", None)
                if isinstance(query, Query):
                    found[query.name] = attr
        cls.handlers = found

    def __init__(self, name: str, config: C) -> None:
        self.name = name
        self.config = config
        self._threads = anyio.CapacityLimiter(config.max_concurrency)

    @classmethod
    def supported_queries(cls) -> list[str]:
        return sorted(cls.handlers)

    def serves(self) -> list[str]:
        """The queries this instance answers: what the type supports, narrowed by config."""
        names = self.supported_queries()
        if self.config.queries is not None:
            names = [n for n in names if n in self.config.queries]
        return names

    async def open(self) -> None:
        """Build clients. Called once before the first query."""

    async def aclose(self) -> None:
        """Release clients."""

    async def health(self) -> Health:
        return Health(ok=True)

    def skip_reason(self, lookup: Lookup) -> str | None:
        """Why this instance must not be asked (e.g. an internal IP for an external service), or None."""
        return None

    async def run_sync(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run a blocking library call in this instance's bounded worker threads.

        Threads cannot be cancelled: pass the library its own timeouts as well.
        """
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self._threads)

    async def ask(self, lookup: Lookup) -> list[Answer[Any]]:
        handler = self.handlers[lookup.query.name]
        return await handler(self, lookup)


class HttpProvider(Provider[C]):
    """A provider whose source is one HTTP service: ``self.http``, the ``HttpSource`` that ``http_source()``
    builds from the config, opens and closes with the instance. Handlers call ``self.http.get(...)`` and hand the
    statuses they do not handle themselves to ``raise_for_status``."""

    def __init__(self, name: str, config: C) -> None:
        super().__init__(name, config)
        self.http = self.http_source()

    def http_source(self) -> HttpSource:
        """This instance's source: base URL, credentials as default headers, ``timeout_s`` per call."""
        raise NotImplementedError(f"{type(self).__name__} must define http_source()")

    async def open(self) -> None:
        await self.http.open()

    async def aclose(self) -> None:
        await self.http.aclose()


__all__ = [
    "Answer",
    "BadResponse",
    "BaseUrl",
    "ConfigError",
    "Health",
    "HttpProvider",
    "HttpResponse",
    "HttpSource",
    "InvalidInput",
    "Lookup",
    "Provider",
    "ProviderAuthError",
    "ProviderConfig",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderTimeout",
    "ProviderUnavailable",
    "ProviderUnreachable",
    "Query",
    "RateLimit",
    "Secret",
    "Tlp",
    "UnsupportedInput",
    "answers",
    "internal_reason",
    "normalize_domain",
    "normalize_hash",
    "normalize_hostname",
    "normalize_ip",
    "normalize_mac",
    "normalize_team",
    "normalize_url",
    "normalize_username",
    "parse_tlp",
    "raise_for_status",
    "retry_after",
    "status_error",
    "tlp_rank",
    "url_host",
]
