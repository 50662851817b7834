"""OpenTelemetry tracing, optional: ``pip install 'positron-broker[otel]'`` and ``tracing: {enabled: true}``.

    request span  "POST /v1/queries/{name}"  (server; continues a caller's W3C ``traceparent``)
    └── provider span  "provider dhcp"  one per provider call: positron.provider, positron.query, positron.status
        └── outbound HTTP of that call carries ``traceparent`` (``positron.http`` injects it)

Until ``configure`` enables it, every function here is a no-op that costs one ``None`` check, and nothing imports
OpenTelemetry: the extra is needed only when tracing is on. Span attributes hold names and statuses, never a
value asked about or a secret.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from positron.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from positron.config import TracingConfig

EXTRA = "pip install 'positron-broker[otel]'"
_tracer: Tracer | None = None


def configure(config: TracingConfig, provider: TracerProvider | None = None) -> None:
    """Turn tracing on as ``config`` says (off: do nothing). ``provider`` replaces the one built from the config
    (tests pass one with an in-memory exporter)."""
    global _tracer
    if not config.enabled:
        return
    try:
        from opentelemetry import trace
    except ImportError:
        raise ConfigError(f"needs OpenTelemetry: {EXTRA}", key="tracing.enabled") from None
    if provider is None:
        provider = _provider(config)
    _tracer = trace.get_tracer("positron", tracer_provider=provider)


def disable() -> None:
    global _tracer
    _tracer = None


def _provider(config: TracingConfig) -> TracerProvider:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    exporter: SpanExporter
    if config.exporter == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=config.endpoint) if config.endpoint else OTLPSpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": config.service_name}),
        sampler=ParentBased(TraceIdRatioBased(config.sample_ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


@contextmanager
def request_span(method: str, path: str, headers: list[tuple[bytes, bytes]], client: str | None) -> Iterator[Any]:
    """The server span of one HTTP request, continuing the caller's trace when it sent ``traceparent``."""
    if _tracer is None:
        yield None
        return
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
    attributes = {"http.request.method": method, "url.path": path}
    if client:
        attributes["client.address"] = client
    with _tracer.start_as_current_span(
        f"{method} {path}", context=propagate.extract(carrier), kind=SpanKind.SERVER, attributes=attributes
    ) as span:
        yield span


def finish_request(span: Any, route: str, status: int) -> None:
    """Name the request span by its route template (low cardinality) and record the status."""
    if span is None:
        return
    from opentelemetry.trace import StatusCode

    span.update_name(f"{span.attributes.get('http.request.method', '')} {route}".strip())
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(StatusCode.ERROR)


@contextmanager
def provider_span(provider: str, provider_type: str, query: str) -> Iterator[Span | None]:
    """A child span for one provider call; ``provider_status`` records how it ended."""
    if _tracer is None:
        yield None
        return
    attributes = {"positron.provider": provider, "positron.provider_type": provider_type, "positron.query": query}
    with _tracer.start_as_current_span(f"provider {provider}", attributes=attributes) as span:
        yield span


def provider_status(span: Span | None, status: str, error_code: str | None = None) -> None:
    if span is None:
        return
    from opentelemetry.trace import StatusCode

    span.set_attribute("positron.status", status)
    if error_code:
        span.set_attribute("positron.error_code", error_code)
    if status in ("error", "timeout", "rate_limited"):
        span.set_status(StatusCode.ERROR, status)


def inject(headers: MutableMapping[str, str]) -> None:
    """Add ``traceparent`` (and ``tracestate``) of the current span to outbound HTTP headers."""
    if _tracer is None:
        return
    from opentelemetry import propagate

    propagate.inject(headers)
