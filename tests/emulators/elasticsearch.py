"""A wire-faithful emulator of the Elasticsearch 8.x / OpenSearch 2.x search API the elasticsearch provider uses.

``GET /`` (the cluster info: ``version.number``, ``version.distribution`` for OpenSearch, the tagline) and
``POST /<index>/_search`` over seeded documents: index names, comma lists and ``*`` patterns; query DSL ``bool``
with ``filter``/``must``/``should`` (+ ``minimum_should_match``), ``term``, ``terms`` and ``range`` on dates;
anything else (``query_string``, ``match``…) is a 400 ``parsing_exception``, so a value spliced into query syntax
would fail here. ``sort`` on fields (dates sort as epoch millis, as Elasticsearch returns them in ``sort``),
``search_after``, ``size``, ``_source`` includes; the real response shape (``took``, ``timed_out``, ``_shards``,
``hits.hits[]`` with ``_index``, ``_id``, ``_score``, ``_source``, ``sort``; ``hits.total`` unless
``track_total_hits: false``). Errors are ``{"error": {"root_cause", "type", "reason"}, "status"}``. Authentication:
``ApiKey <encoded>`` or Basic. As Elasticsearch 8 does, every answer but 401/403 carries
``X-Elastic-Product: Elasticsearch``; the OpenSearch flavour never does."""

from __future__ import annotations

import base64
import fnmatch
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.emulators.base import Emulator, json_response


def es_error(status: int, kind: str, reason: str) -> dict[str, Any]:
    return {
        "error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
        "status": status,
    }


class QueryError(ValueError):
    pass


def _millis(value: Any) -> int | None:
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp() * 1000)
    return None


def _get(doc: dict[str, Any], path: str) -> Any:
    if path in doc:
        return doc[path]
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _values(doc: dict[str, Any], path: str) -> list[Any]:
    value = _get(doc, path)
    return value if isinstance(value, list) else [] if value is None else [value]


def matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    if len(query) != 1:
        raise QueryError("[_na] query malformed, must start with start_object")
    ((kind, spec),) = query.items()
    if kind == "match_all":
        return True
    if kind == "term":
        ((field, value),) = spec.items()
        value = value["value"] if isinstance(value, dict) else value
        return any(v == value for v in _values(doc, field))
    if kind == "terms":
        ((field, wanted),) = spec.items()
        return any(v in wanted for v in _values(doc, field))
    if kind == "range":
        ((field, bounds),) = spec.items()
        at = _millis(_get(doc, field))
        lo, hi = _millis(bounds.get("gte")), _millis(bounds.get("lte"))
        return at is not None and (lo is None or at >= lo) and (hi is None or at <= hi)
    if kind == "bool":
        musts = [*spec.get("filter", []), *spec.get("must", [])]
        shoulds = spec.get("should", [])
        need = spec.get("minimum_should_match", 0 if musts else 1) if shoulds else 0
        return all(matches(doc, q) for q in musts) and sum(matches(doc, q) for q in shoulds) >= need
    raise QueryError(f"unknown query [{kind}]")


class ElasticsearchEmulator(Emulator):
    def __init__(
        self,
        *,
        flavor: str = "elasticsearch",
        api_key: str | None = None,
        user: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flavor = flavor
        self.api_key = api_key
        self.user = user
        self.indices: dict[str, list[dict[str, Any]]] = {}
        self.bodies: list[dict[str, Any]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._info)
        app.router.add_post("/{index}/_search", self._search)

    def add(self, index: str, **source: Any) -> str:
        doc_id = uuid.uuid4().hex[:20]
        self.indices.setdefault(index, []).append({"_id": doc_id, "_source": source})
        return doc_id

    def reject(self, times: int = 1) -> None:
        doc = es_error(429, "es_rejected_execution_exception", "rejected execution of coordinating operation")
        self.fail(429, doc, headers=self._product(), times=times)

    def _product(self) -> dict[str, str]:
        return {"X-Elastic-Product": "Elasticsearch"} if self.flavor == "elasticsearch" else {}

    def _reply(self, status: int, doc: Any) -> web.Response:
        return json_response(status, doc, {} if status in (401, 403) else self._product())

    async def _info(self, request: web.Request) -> web.Response:
        if (early := await self.enter(request) or self._auth(request)) is not None:
            return early
        if self.flavor == "opensearch":
            version = {"distribution": "opensearch", "number": "2.11.1", "lucene_version": "9.7.0"}
            tagline = "The OpenSearch Project: https://opensearch.org/"
        else:
            version = {"number": "8.13.4", "build_flavor": "default", "lucene_version": "9.10.0"}
            tagline = "You Know, for Search"
        doc = {"name": "node-1", "cluster_name": "corp", "cluster_uuid": "x1Y2", "version": version, "tagline": tagline}
        return self._reply(200, doc)

    async def _search(self, request: web.Request) -> web.Response:
        if (early := await self.enter(request) or self._auth(request)) is not None:
            return early
        target = request.match_info["index"]
        names = [n for n in self.indices if any(fnmatch.fnmatchcase(n, p) for p in target.split(","))]
        if not names:
            return self._reply(404, es_error(404, "index_not_found_exception", f"no such index [{target}]"))
        try:
            body = json.loads(await request.read() or b"{}")
            self.bodies.append(body)
            return self._reply(200, self._run(body, names))
        except (QueryError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return self._reply(400, es_error(400, "parsing_exception", str(exc)))

    def _run(self, body: dict[str, Any], names: list[str]) -> dict[str, Any]:
        query = body.get("query", {"match_all": {}})
        found = [(n, d) for n in names for d in self.indices[n] if matches(d["_source"], query)]
        sort = [
            ((k, v.get("order", "asc") if isinstance(v, dict) else v),)
            for s in body.get("sort", [])
            for k, v in s.items()
        ]
        keys = [k for ((k, _),) in sort]

        def sort_values(item: tuple[str, dict[str, Any]]) -> list[Any]:
            return [
                _millis(_get(item[1]["_source"], k)) if k.endswith("timestamp") else _get(item[1]["_source"], k)
                for k in keys
            ]

        for index in reversed(range(len(sort))):
            ((_, order),) = sort[index]
            found.sort(key=lambda item, i=index: sort_values(item)[i] or 0, reverse=order == "desc")
        after = body.get("search_after")
        if after is not None:
            if not keys:
                raise QueryError("Sort must contain at least one field when search_after is used")
            desc = [o == "desc" for ((_, o),) in sort]
            found = [f for f in found if _after(sort_values(f), after, desc)]
        size = int(body.get("size", 10))
        include = body.get("_source")
        hits = []
        for name, doc in found[:size]:
            source = (
                doc["_source"]
                if include is None
                else {
                    k: v
                    for k, v in doc["_source"].items()
                    if any(k == f or k.startswith(f + ".") or f.startswith(k + ".") for f in include)
                }
            )
            hit: dict[str, Any] = {"_index": name, "_id": doc["_id"], "_score": None, "_source": source}
            if keys:
                hit["sort"] = sort_values((name, doc))
            hits.append(hit)
        result: dict[str, Any] = {
            "took": 2,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        }
        result["hits"] = {"max_score": None, "hits": hits}
        if body.get("track_total_hits", True) is not False:
            result["hits"]["total"] = {"value": len(found), "relation": "eq"}
        return result

    def _auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        ok = False
        if self.api_key is not None and header == f"ApiKey {self.api_key}":
            ok = True
        if self.user is not None and header.startswith("Basic "):
            ok = ok or base64.b64decode(header[6:]).decode() == f"{self.user[0]}:{self.user[1]}"
        if ok:
            return None
        doc = es_error(401, "security_exception", "unable to authenticate user for REST request [/_search]")
        return json_response(401, doc, {"WWW-Authenticate": 'ApiKey, Basic realm="security", charset="UTF-8"'})


def _after(values: list[Any], after: list[Any], desc: list[bool]) -> bool:
    for value, mark, down in zip(values, after, desc, strict=False):
        if value == mark:
            continue
        return (value < mark) if down else (value > mark)
    return False
