"""OpenTelemetry: a server span per request, a child per provider call with its status, and the W3C traceparent
on the provider's outbound HTTP; recorded with the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from positron.config import TracingConfig
from positron.telemetry import tracing
from tests.emulators.virustotal import EICAR, VirusTotalEmulator
from tests.support.apps import AUTH, client

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_PARENT = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure(TracingConfig(enabled=True), provider=provider)
    try:
        yield exporter
    finally:
        tracing.disable()


async def test_a_request_span_with_a_child_per_provider_call_and_traceparent_sent_upstream(
    spans: InMemorySpanExporter,
) -> None:
    vt = VirusTotalEmulator(api_key="vt-key-0123456789abcdef")
    base_url = await vt.start()
    providers = {
        "vt": {"type": "virustotal", "api_key": "vt-key-0123456789abcdef", "base_url": base_url},
        "down": {"type": "virustotal", "api_key": "vt-key-0123456789abcdef", "base_url": "http://127.0.0.1:9"},
    }
    try:
        async with client(providers, engine={"retries": 0}) as c:
            headers = {**AUTH, "traceparent": CALLER_PARENT}
            answer = await c.post("/v1/queries/HASH_REPUTATION", json={"value": EICAR["sha256"]}, headers=headers)
    finally:
        await vt.stop()
    assert answer.status_code == 200
    finished = spans.get_finished_spans()
    (request,) = [s for s in finished if s.kind == SpanKind.SERVER]
    assert request.name == "POST /v1/queries/HASH_REPUTATION"
    assert request.attributes["http.response.status_code"] == 200
    assert format(request.context.trace_id, "032x") == CALLER_TRACE  # continues the caller's trace
    calls = {s.attributes["positron.provider"]: s for s in finished if s.name.startswith("provider ")}
    assert set(calls) == {"vt", "down"}
    for call in calls.values():
        assert call.parent is not None and call.parent.span_id == request.context.span_id
        assert call.attributes["positron.query"] == "HASH_REPUTATION"
    assert calls["vt"].attributes["positron.status"] == "ok" and calls["vt"].status.status_code != StatusCode.ERROR
    assert calls["down"].attributes["positron.status"] == "error"
    assert calls["down"].attributes["positron.error_code"] == "unavailable"
    assert calls["down"].status.status_code == StatusCode.ERROR
    (upstream,) = [r for r in vt.requests if r.path.startswith("/api/v3/files/")]
    sent = upstream.headers["traceparent"]  # W3C: version-traceid-parentid-flags, the parent being the call's span
    assert sent == f"00-{CALLER_TRACE}-{format(calls['vt'].context.span_id, '016x')}-01"


async def test_no_spans_and_no_traceparent_when_tracing_is_off() -> None:
    tracing.disable()
    vt = VirusTotalEmulator(api_key="vt-key-0123456789abcdef")
    base_url = await vt.start()
    try:
        async with client(
            {"vt": {"type": "virustotal", "api_key": "vt-key-0123456789abcdef", "base_url": base_url}}
        ) as c:
            answer = await c.post("/v1/queries/HASH_REPUTATION", json={"value": EICAR["md5"]}, headers=AUTH)
    finally:
        await vt.stop()
    assert answer.status_code == 200
    assert all("traceparent" not in r.headers for r in vt.requests)


def test_tracing_without_the_extra_names_the_key_and_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from positron.errors import ConfigError

    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if the extra were not installed
    with pytest.raises(
        ConfigError, match=r"tracing.enabled: needs OpenTelemetry: pip install 'positron-broker\[otel\]'"
    ):
        tracing.configure(TracingConfig(enabled=True))
