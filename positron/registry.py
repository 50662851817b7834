"""Provider types, found through the ``positron.providers`` entry-point group (built-ins included).

Installing a package never enables a provider: a config instance does. Tests build a ``Registry`` of their own
and ``register`` inline provider classes.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

from positron.errors import ConfigError
from positron.provider import Provider

log = logging.getLogger(__name__)
GROUP = "positron.providers"


class Registry:
    def __init__(self, types: dict[str, type[Provider[Any]]] | None = None) -> None:
        self._types: dict[str, type[Provider[Any]]] = dict(types or {})

    @classmethod
    def from_entry_points(cls) -> Registry:
        registry = cls()
        for ep in entry_points(group=GROUP):
            try:
                provider_cls = ep.load()
            except Exception as exc:  # a broken plugin must not take the broker down
                log.error("provider plugin %s could not be loaded: %s", ep.name, type(exc).__name__)
                continue
            registry.register(provider_cls, name=ep.name)
        return registry

    def register(self, provider_cls: type[Provider[Any]], *, name: str | None = None) -> None:
        type_name = name or provider_cls.type_name
        if not (isinstance(provider_cls, type) and issubclass(provider_cls, Provider)):
            raise ConfigError(f"{type_name!r} is not a Provider subclass")
        self._types[type_name] = provider_cls

    def get(self, type_name: str) -> type[Provider[Any]]:
        try:
            return self._types[type_name]
        except KeyError:
            known = ", ".join(sorted(self._types)) or "none"
            raise ConfigError(f"unknown provider type {type_name!r} (installed: {known})") from None

    def types(self) -> dict[str, type[Provider[Any]]]:
        return dict(self._types)
