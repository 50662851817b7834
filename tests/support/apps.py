"""Build brokers and apps in memory, with inline fake providers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from positron.api.app import create_app
from positron.broker import Broker
from positron.config import parse_settings
from positron.registry import Registry
from tests.support.fakes import Fake

KEY = "test-key-0123456789abcdef0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


def registry() -> Registry:
    reg = Registry.from_entry_points()
    reg.register(Fake)
    return reg


def broker(providers: dict[str, dict[str, Any]], **extra: Any) -> Broker:
    # alice is an admin: the default policy (acl/policy.csv) lets admins run everything on every instance
    config = {"api_keys": [{"principal": "alice", "key": KEY, "groups": ["admins"]}], "providers": providers, **extra}
    return Broker(parse_settings(config, registry()), registry())


@asynccontextmanager
async def client(providers: dict[str, dict[str, Any]], **extra: Any) -> AsyncIterator[httpx.AsyncClient]:
    b = broker(providers, **extra)
    app = create_app(b)
    await b.start()
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://positron") as c:
            yield c
    finally:
        await b.close()
