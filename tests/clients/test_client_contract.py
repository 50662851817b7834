"""Meta-tests that keep the client in step with the server: every catalog query has a typed method on both clients
(with ``at`` exactly where the query takes it), both clients have the workflow methods (batch, iter_batch, enrich) for
the server's workflow routes, and every client model has the server model's fields."""

from __future__ import annotations

import dataclasses
import inspect
import json
import tomllib
from pathlib import Path
from typing import Any

import positron_client
import pytest
from positron.queries import CATALOG, HostInfo, OnCall, Person, Reputation, UserInfo
from positron_client import STANDARD_QUERIES, AsyncPositron, Positron, _models, _workflows
from pydantic import BaseModel

from positron.api import schemas, workflows

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"


def test_the_client_knows_every_catalog_query_as_the_server_declares_it() -> None:
    assert set(STANDARD_QUERIES) == set(CATALOG)
    for name, query in CATALOG.items():
        known = STANDARD_QUERIES[name]
        assert (known.input, known.accepts_at) == (query.input.value, query.accepts_at), name


@pytest.mark.parametrize("cls", [Positron, AsyncPositron])
@pytest.mark.parametrize("name", sorted(CATALOG))
def test_each_query_has_a_method_taking_at_only_where_the_query_does(cls: type[Any], name: str) -> None:
    method = getattr(cls, name.lower())
    params = inspect.signature(method).parameters
    assert ("at" in params) == CATALOG[name].accepts_at
    assert {"providers", "no_cache"} <= set(params)
    assert inspect.iscoroutinefunction(method) == (cls is AsyncPositron)


@pytest.mark.parametrize(
    ("client_model", "server_model"),
    [
        (_models.Person, Person),
        (_models.UserInfo, UserInfo),
        (_models.Reputation, Reputation),
        (_models.OnCall, OnCall),
        (_models.HostInfo, HostInfo),
        (_models.ProviderStatus, schemas.ProviderStatusOut),
        (_models.QueryInfo, schemas.QueryInfo),
        (_models.ProviderInfo, schemas.ProviderInfo),
        (_models.Quota, schemas.QuotaOut),
        (_models.Source, schemas.SourceOut),
        (_models.Answer, schemas.AnswerOut),
        (_models.Why, schemas.WhyOut),
        (_models.QueryResult, schemas.QueryResponse),
        (_workflows.BatchItemResult, workflows.BatchResult),
        (_workflows.EnrichResult, workflows.EnrichResponse),
    ],
)
def test_client_models_have_the_server_models_fields(client_model: type[Any], server_model: type[BaseModel]) -> None:
    client_fields = [f.name for f in dataclasses.fields(client_model) if f.name != "raw"]
    assert set(client_fields) == set(server_model.model_fields)


def test_an_enriched_observable_splits_the_servers_results_into_results_and_errors() -> None:
    client_fields = {f.name for f in dataclasses.fields(_workflows.EnrichedObservable)}
    assert client_fields == set(workflows.EnrichedObservable.model_fields) | {"errors"}


@pytest.mark.parametrize("cls", [Positron, AsyncPositron])
def test_both_clients_have_the_workflow_methods_for_the_servers_workflow_routes(cls: type[Any]) -> None:
    paths = json.loads((CLIENT.parents[1] / "openapi" / "positron.openapi.json").read_text())["paths"]
    assert "post" in paths[_workflows.BATCH_PATH] and "post" in paths[_workflows.ENRICH_PATH]
    for name in ("batch", "iter_batch"):
        assert {"items", "no_cache", "tlp"} <= set(inspect.signature(getattr(cls, name)).parameters)
    assert {"alert_or_observables", "queries", "at", "tlp"} <= set(inspect.signature(cls.enrich).parameters)
    is_async = cls is AsyncPositron
    assert inspect.iscoroutinefunction(cls.batch) == inspect.iscoroutinefunction(cls.enrich) == is_async
    assert inspect.isasyncgenfunction(cls.iter_batch) == is_async
    assert inspect.isgeneratorfunction(cls.iter_batch) != is_async


def test_the_distribution_depends_on_httpx_alone_and_ships_its_types() -> None:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "positron-client"
    assert [d.split(">")[0] for d in project["dependencies"]] == ["httpx"]
    assert (CLIENT / "src" / "positron_client" / "py.typed").exists()
    assert set(positron_client.__all__) >= {"Positron", "AsyncPositron", "QueryResult", "APIError", "InvalidInput"}
    assert all(hasattr(positron_client, name) for name in positron_client.__all__)
