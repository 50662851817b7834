"""Brokers with several principals (one key per group of the example policy, acl/policy.csv), built in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from positron.api.app import create_app
from positron.broker import Broker
from positron.config import parse_settings
from positron.demo import demo_config
from tests.support.apps import registry

GROUPS: dict[str, tuple[str, ...]] = {
    "alice": ("soc-analysts",),
    "ivan": ("incident-responders",),  # inherits soc-analysts (g line) and may use virustotal
    "hana": ("hr-partners",),
    "carl": ("automation",),
    "root": ("admins",),
    "nobody": (),
}


def key_of(principal: str) -> str:
    return f"key-of-{principal}-0123456789abcdef"


def auth(principal: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key_of(principal)}"}


def api_keys(groups: dict[str, tuple[str, ...]] = GROUPS) -> list[dict[str, Any]]:
    return [{"principal": p, "key": key_of(p), "groups": list(g)} for p, g in groups.items()]


def demo_providers() -> dict[str, Any]:
    """inventory, hr_export, local_iocs, dhcp: the names acl/policy.csv grants."""
    providers: dict[str, Any] = demo_config("unused")["providers"]
    return providers


def broker(providers: dict[str, Any], **extra: Any) -> Broker:
    config = {"api_keys": api_keys(), "providers": providers, "security": {"audit": {"destination": None}}, **extra}
    return Broker(parse_settings(config, registry()), registry())


@asynccontextmanager
async def serving(b: Broker) -> AsyncIterator[httpx.AsyncClient]:
    await b.start()
    try:
        transport = httpx.ASGITransport(app=create_app(b), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://positron") as c:
            yield c
    finally:
        await b.close()


@asynccontextmanager
async def client(providers: dict[str, Any], **extra: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(broker(providers, **extra)) as c:
        yield c
