"""Retries decided per error kind, so they never spend a scarce quota on errors that won't heal (issue 13):
the real VirusTotal provider against an address where nothing listens, and against a server that answers 500."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from positron.providers.virustotal import VirusTotal
from positron.queries import HASH_REPUTATION

from positron.config import EngineConfig
from positron.engine import Engine
from tests.support.servers import free_port

SHA256 = "b" * 64


def virustotal(base_url: str) -> VirusTotal:
    config: Any = VirusTotal.Config.model_validate({"type": "virustotal", "api_key": "k" * 32, "base_url": base_url})
    return VirusTotal("vt", config)  # the public API's limits: 4/minute, 500/day


async def _ask_once(base_url: str) -> tuple[Any, list[int]]:
    engine = Engine([virustotal(base_url)], EngineConfig(deadline_s=5, retries=2, retry_backoff_s=0.01))
    await engine.start()
    try:
        result = await engine.run(HASH_REPUTATION, SHA256)
        report = await engine.instances["vt"].limiter.report()
    finally:
        await engine.close()
    return result.providers[0], [q.remaining for q in report.buckets]


async def test_an_unreachable_source_is_not_retried_and_spends_one_slot() -> None:
    status, remaining = await _ask_once(f"http://127.0.0.1:{free_port()}")  # connection refused
    assert (status.status, status.error_code) == ("error", "unavailable")
    assert remaining == [3, 499]  # one slot of 4/minute, not three


async def test_a_server_error_may_heal_and_is_retried() -> None:
    hits: list[str] = []

    async def fail(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=503, text="busy")

    app = web.Application()
    app.router.add_get("/{tail:.*}", fail)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        status, remaining = await _ask_once(f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
    assert (status.status, status.error_code) == ("error", "unavailable")
    assert len(hits) == 3 and remaining == [1, 497]  # each retry reached VirusTotal, so each counts
