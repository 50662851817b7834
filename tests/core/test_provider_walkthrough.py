"""The README's "Writing a provider" example is a working provider: it runs here against a local CMDB API."""

from __future__ import annotations

import ast
import re
import sys
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from positron.queries import IP_TO_HOSTNAME

from positron.errors import BadResponse, ProviderAuthError, ProviderRateLimited
from positron.provider import HttpProvider
from positron.query import Lookup

README = Path(__file__).resolve().parents[2] / "README.md"
TOKEN = "cmdb-t0ken-5ecret"


def _walkthrough() -> str:
    section = README.read_text().split("## Writing a provider", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the walkthrough has no python example"
    return match.group(1)


def _example() -> Any:
    """The example as a module (registered, so pydantic resolves its postponed annotations)."""
    module = sys.modules.get("cmdb_example")
    if module is None:
        module = types.ModuleType("cmdb_example")
        sys.modules[module.__name__] = module
        exec(compile(_walkthrough(), str(README), "exec"), module.__dict__)
    return module


async def _ci(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return web.json_response({"error": "unauthorized"}, status=401)
    ip = request.query.get("ip")
    if ip == "10.0.0.5":
        return web.json_response({"items": [{"id": "ci-7", "hostname": "ws-007.corp.example"}, {"id": "x"}]})
    if ip == "10.0.0.6":
        return web.json_response({"error": "slow down"}, status=429, headers={"Retry-After": "3"})
    if ip == "10.0.0.7":
        return web.Response(text="<html>proxy</html>")
    return web.json_response({"error": "no such CI"}, status=404)


async def _ping(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@pytest.fixture
async def cmdb() -> AsyncIterator[Any]:
    app = web.Application()
    app.router.add_get("/api/ci", _ci)
    app.router.add_get("/api/ping", _ping)
    async with TestServer(app, host="127.0.0.1") as server:
        example = _example()
        config = example.Cmdb.Config.model_validate(
            {"type": "cmdb", "base_url": str(server.make_url("")), "token": TOKEN, "timeout_s": 2}
        )
        provider = example.Cmdb("cmdb_test", config)
        await provider.open()
        yield provider
        await provider.aclose()


def test_the_example_imports_only_the_provider_surface() -> None:
    tree = ast.parse(_walkthrough())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {m for m in modules if m and m.startswith("positron")} == {"positron.provider", "positron.queries"}
    section = README.read_text().split("## Writing a provider", 1)[1]
    assert 'cmdb = "my_package.cmdb:Cmdb"' in section and issubclass(_example().Cmdb, HttpProvider)


async def test_the_example_answers_and_skips_what_it_cannot_read(cmdb: Any) -> None:
    [answer] = await cmdb.ask(Lookup(IP_TO_HOSTNAME, "10.0.0.5"))
    assert answer.value == "ws-007.corp.example" and answer.source_ref.endswith("/ci/ci-7")
    assert await cmdb.ask(Lookup(IP_TO_HOSTNAME, "10.9.9.9")) == []
    assert (await cmdb.health()).ok


async def test_the_example_maps_failures_to_provider_errors(cmdb: Any) -> None:
    with pytest.raises(ProviderRateLimited) as limited:
        await cmdb.ask(Lookup(IP_TO_HOSTNAME, "10.0.0.6"))
    assert limited.value.retry_after == 3.0
    with pytest.raises(BadResponse):
        await cmdb.ask(Lookup(IP_TO_HOSTNAME, "10.0.0.7"))
    cmdb.http.set_header("Authorization", "Bearer wrong")
    with pytest.raises(ProviderAuthError) as refused:
        await cmdb.ask(Lookup(IP_TO_HOSTNAME, "10.0.0.5"))
    assert TOKEN not in refused.value.message and "wrong" not in refused.value.message
