"""The catalog: the queries this process knows, by canonical name.

The core never imports the query declarations (``queries/``, installed as ``positron.queries``); it finds them
through the ``positron.queries`` entry-point group, the way providers are found, so a plugin can add queries too.
Each entry point names an iterable of ``Query`` objects (or a mapping of them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import unquote

from positron.errors import ConfigError, UnknownQuery
from positron.query import Query

GROUP = "positron.queries"


def canonical_name(raw: str) -> str:
    """``ip_to_hostname``, ``IP_TO_HOSTNAME/``, `` Ip-To-Hostname`` and ``%49P_TO_HOSTNAME`` all name
    IP_TO_HOSTNAME. URL encoding is undone repeatedly (``%2549`` is ``%49`` is ``I``), so no spelling of a name
    can reach a query under a name the access policy does not see."""
    name = raw
    for _ in range(3):
        decoded = unquote(name)
        if decoded == name:
            break
        name = decoded
    return name.strip().strip("/").upper().replace("-", "_")


class Catalog(Mapping[str, Query[Any]]):
    """Queries by canonical name, in declaration order."""

    def __init__(self, queries: Iterable[Query[Any]]) -> None:
        self._queries: dict[str, Query[Any]] = {}
        for query in queries:
            if query.name in self._queries and self._queries[query.name] is not query:
                raise ConfigError(f"two queries are named {query.name}")
            self._queries[query.name] = query

    @classmethod
    def load(cls) -> Catalog:
        """Every query declared through the ``positron.queries`` entry points."""
        queries: list[Query[Any]] = []
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            declared = ep.load()
            queries.extend(declared.values() if isinstance(declared, Mapping) else declared)
        return cls(queries)

    def __getitem__(self, name: str) -> Query[Any]:
        return self._queries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)

    def get_query(self, raw_name: str) -> Query[Any]:
        """The query a caller named, in any accepted spelling; ``UnknownQuery`` (404) lists the known ones."""
        try:
            return self._queries[canonical_name(raw_name)]
        except KeyError:
            known = ", ".join(self._queries)
            raise UnknownQuery(f"unknown query {raw_name[:64]!r}; known queries: {known}") from None


__all__ = ["Catalog", "canonical_name"]
