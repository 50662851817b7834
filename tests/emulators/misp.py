"""A wire-faithful emulator of the MISP REST endpoints Positron uses (aiohttp.web on 127.0.0.1).

``POST /attributes/restSearch`` takes MISP's JSON filter document (``value``, ``type`` as a string or a list,
``to_ids``, ``published``, ``deleted``, ``limit``/``page``, ``includeEventTags``, ``includeSightings``,
``includeContext``) and answers ``{"response": {"Attribute": [...]}}`` with the real attribute shape: string ids and
epoch-second strings, ``to_ids`` a boolean, ``Event`` (``id``, ``info``, ``orgc_id``, ``uuid``, ...; with
``includeContext`` also ``threat_level_id``, ``analysis``, ``date``, ``published``), ``Tag`` (the attribute's tags,
and the event's when ``includeEventTags``, marked ``inherited``), ``Sighting`` (``type`` "0" sighting, "1" false
positive, ``date_sighting``). Composite attributes (``domain|ip``, ``filename|md5``) match either half, as MISP's
value filter does. ``GET /servers/getVersion`` answers the version document.

Authentication is MISP's: the key in ``Authorization`` (no "Bearer"); a missing or wrong one → 403
``{"name": "Authentication failed. ...", "message": ..., "url": ...}``. A body that is not JSON → 400. Faults:
``fail(status)`` (429 with Retry-After, 5xx), ``hang(seconds)``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

AUTH_FAILED = (
    "Authentication failed. Please make sure you pass the API key of an API enabled user along in the "
    "Authorization header."
)


@dataclass(slots=True)
class Seeded:
    event_id: int
    info: str
    threat_level_id: int
    event_tags: list[str]
    published: bool
    attributes: list[dict[str, Any]] = field(default_factory=list)


class MispEmulator:
    def __init__(self, api_key: str = "misp-key") -> None:
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []  # {"path", "headers", "body"}
        self._events: list[Seeded] = []
        self._faults: deque[tuple[int | None, float, dict[str, str]]] = deque()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/attributes/restSearch", self._rest_search)
        app.router.add_get("/servers/getVersion", self._version)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MispEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # seeding

    def add_event(
        self, info: str, *, threat_level_id: int = 2, tags: list[str] | None = None, published: bool = True
    ) -> Seeded:
        event = Seeded(len(self._events) + 1, info, threat_level_id, list(tags or []), published)
        self._events.append(event)
        return event

    def add_attribute(
        self,
        event: Seeded,
        type_: str,
        value: str,
        *,
        to_ids: bool = True,
        tags: list[str] | None = None,
        sightings: list[tuple[str, int]] | None = None,  # (type "0"/"1"/"2", epoch)
        last_seen: str | None = None,
        timestamp: int = 1_764_000_000,
        deleted: bool = False,
    ) -> dict[str, Any]:
        attribute_id = sum(len(e.attributes) for e in self._events) + 1
        attribute = {
            "id": str(attribute_id),
            "event_id": str(event.event_id),
            "object_id": "0",
            "object_relation": None,
            "category": "Network activity"
            if "|" in type_ or type_.startswith(("ip", "domain", "url"))
            else "Payload delivery",
            "type": type_,
            "to_ids": to_ids,
            "uuid": f"5f0c{attribute_id:04d}-0000-4000-8000-00000000{attribute_id:04d}",
            "timestamp": str(timestamp),
            "distribution": "5",
            "sharing_group_id": "0",
            "comment": "",
            "deleted": deleted,
            "disable_correlation": False,
            "first_seen": None,
            "last_seen": last_seen,
            "value": value,
            "_tags": list(tags or []),
            "_sightings": list(sightings or []),
        }
        event.attributes.append(attribute)
        return attribute

    # faults

    def fail(self, status: int, *, times: int = 1, retry_after: int | None = None) -> None:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        self._faults.extend([(status, 0.0, headers)] * times)

    def hang(self, seconds: float) -> None:
        self._faults.append((None, seconds, {}))

    # handlers

    async def _version(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(
            request,
            None,
            lambda _: {"version": "2.4.190", "perm_sync": False, "perm_sighting": True, "perm_galaxy_editor": False},
        )

    async def _rest_search(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return web.json_response(
                {"name": "Invalid JSON", "message": "Invalid JSON", "url": request.path}, status=400
            )
        return await self._guarded(request, body, self._search)

    async def _guarded(self, request: web.Request, body: Any, answer: Any) -> web.StreamResponse:
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        if self._faults:
            status, delay, headers = self._faults.popleft()
            if delay:
                try:
                    await asyncio.wait_for(self._closing.wait(), delay)
                except TimeoutError:
                    pass
            if status is not None:
                doc = {"name": f"Error {status}", "message": f"Error {status}", "url": request.path}
                return web.json_response(doc, status=status, headers=headers)
        if request.headers.get("Authorization") != self.api_key:
            return web.json_response({"name": AUTH_FAILED, "message": AUTH_FAILED, "url": request.path}, status=403)
        return web.json_response(answer(body))

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        value = str(body.get("value", "")).lower()
        types = body.get("type")
        types = [types] if isinstance(types, str) else types
        limit, page = int(body.get("limit") or 0), int(body.get("page") or 1)
        found = []
        for event in self._events:
            if body.get("published") and not event.published:
                continue
            for attribute in event.attributes:
                if attribute["deleted"] and not body.get("deleted", False):
                    continue
                if types and attribute["type"] not in types:
                    continue
                if value not in [attribute["value"].lower(), *attribute["value"].lower().split("|")]:
                    continue
                if "to_ids" in body and bool(body["to_ids"]) != attribute["to_ids"]:
                    continue
                found.append(self._render(event, attribute, body))
        if limit:
            found = found[(page - 1) * limit : page * limit]
        return {"response": {"Attribute": found}}

    def _render(self, event: Seeded, attribute: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in attribute.items() if not k.startswith("_")}
        out["Event"] = {
            "org_id": "1",
            "distribution": "1",
            "id": str(event.event_id),
            "info": event.info,
            "orgc_id": "1",
            "uuid": f"6a1b{event.event_id:04d}-0000-4000-8000-00000000{event.event_id:04d}",
            "publish_timestamp": str(int(time.time())) if event.published else "0",
        }
        if body.get("includeContext"):
            out["Event"].update(
                {
                    "threat_level_id": str(event.threat_level_id),
                    "analysis": "2",
                    "date": "2026-11-30",
                    "published": event.published,
                    "Orgc": {"id": "1", "name": "CIRCL", "uuid": "55f6ea5e"},
                }
            )
        tags = [_tag(i, name, inherited=False) for i, name in enumerate(attribute["_tags"], 1)]
        if body.get("includeEventTags"):
            tags += [_tag(100 + i, name, inherited=True) for i, name in enumerate(event.event_tags, 1)]
        if tags:
            out["Tag"] = tags
        if body.get("includeSightings"):
            out["Sighting"] = [
                {
                    "id": str(i),
                    "attribute_id": attribute["id"],
                    "event_id": attribute["event_id"],
                    "org_id": "1",
                    "date_sighting": str(when),
                    "uuid": f"sighting-{i}",
                    "source": "",
                    "type": kind,
                    "Organisation": {"id": "1", "uuid": "55f6ea5e", "name": "CIRCL"},
                }
                for i, (kind, when) in enumerate(attribute["_sightings"], 1)
            ]
        return out


def _tag(tag_id: int, name: str, *, inherited: bool) -> dict[str, Any]:
    colour = {"tlp:red": "#CC0033", "tlp:amber": "#FFC000", "tlp:green": "#339900"}.get(name, "#0088cc")
    return {
        "id": str(tag_id),
        "name": name,
        "colour": colour,
        "exportable": True,
        "user_id": "0",
        "hide_tag_from_other_orgs": False,
        "numerical_value": None,
        "is_galaxy": False,
        "is_custom_galaxy": False,
        "local_only": False,
        "local": 0,
        "inherited": 1 if inherited else 0,
    }
