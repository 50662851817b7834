"""Meta-tests over every registered provider type: the contract, a test per (provider, query) pair, a doc page."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from positron.queries import CATALOG
from pydantic import SecretStr

from positron.provider import Provider, ProviderConfig
from positron.registry import GROUP, Registry

ROOT = Path(__file__).resolve().parents[2]
TYPES = Registry.from_entry_points().types()
CREDENTIAL = re.compile(r"(password|secret|token|api_key|apikey)$")


def test_every_entry_point_loads_and_names_its_own_type() -> None:
    names = {ep.name for ep in entry_points(group=GROUP)}
    assert names == set(TYPES)
    assert {"static_inventory", "dhcp_leases", "ldap", "splunk", "virustotal", "dns", "pagerduty"} <= names
    for name, cls in TYPES.items():
        assert issubclass(cls, Provider) and cls.type_name == name


@pytest.mark.parametrize("type_name", sorted(TYPES))
def test_provider_contract(type_name: str) -> None:
    cls = TYPES[type_name]
    assert issubclass(cls.Config, ProviderConfig) and cls.Config is not ProviderConfig
    assert cls.supported_queries(), "a provider answers at least one query"
    for name, handler in cls.handlers.items():
        assert name in CATALOG
        assert inspect.iscoroutinefunction(handler), f"{name} handler must be async"
    for field_name, field in cls.Config.model_fields.items():
        if CREDENTIAL.search(field_name):
            assert _holds_secret(field.annotation), f"{type_name}.{field_name} must be a Secret"
    for method in ("open", "aclose", "health"):
        assert inspect.iscoroutinefunction(getattr(cls, method))


def _holds_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ()) or "SecretStr" in str(annotation)


@pytest.mark.parametrize(
    ("type_name", "query"), sorted((t, q) for t, cls in TYPES.items() for q in cls.supported_queries())
)
def test_every_provider_query_pair_has_a_test(type_name: str, query: str) -> None:
    module = TYPES[type_name].__module__.split(".")[2]  # positron.providers.<module>[...]
    test_file = ROOT / "tests" / "providers" / f"test_{module}.py"
    assert test_file.exists(), f"{type_name} has no tests/providers/test_{module}.py"
    assert query in test_file.read_text(), f"{test_file.name} never exercises {query}"


@pytest.mark.parametrize("type_name", sorted(TYPES))
def test_every_provider_is_documented_with_a_config_example(type_name: str) -> None:
    doc = ROOT / "docs" / "providers" / f"{type_name}.md"
    assert doc.exists(), f"docs/providers/{type_name}.md is missing"
    assert f"type: {type_name}" in doc.read_text()
    assert f"type: {type_name}" in (ROOT / "examples" / "positron.yaml").read_text()
