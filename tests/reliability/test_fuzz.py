"""Schemathesis against a real uvicorn server (the demo's providers, an admin key), with the OpenAPI document
committed at openapi/ (tests/api checks that it is the app's own): every operation gets generated requests, valid
and invalid; none may answer 5xx, and every response must match the documented status codes, content types and
schemas.

Bounded: POSITRON_FUZZ_EXAMPLES generated examples per operation (default 8: ~150 cases in CI, ~10 s).
POSITRON_FUZZ_COVERAGE=1 adds schemathesis' coverage phase (boundary and type-violating values for every
parameter, ~900 more cases); ``python -m bench`` runs both (~1,000 cases) and reads the per-case log that
POSITRON_FUZZ_LOG names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from positron.demo import demo_config
from tests.reliability.helpers import AUTH, KEY, serve

# Two of schemathesis' checks compare the request with the schema, not the response, and do not apply here:
# - pydantic's lax mode accepts some values the schema does not list (no_cache: 0, at: an epoch number, Cortex's
#   numeric TLP 0-3), answered 200 on purpose: "invalid data must be rejected" would fail;
# - a value's kind (a user name, a hash) is checked by positron.inputs, which OpenAPI cannot express: a string the
#   schema allows may still be a documented 422, so "valid data must be accepted" would fail.
LENIENT = [schemathesis.checks.negative_data_rejection, schemathesis.checks.positive_data_acceptance]
EXAMPLES = int(os.environ.get("POSITRON_FUZZ_EXAMPLES", "8"))
# explicit = schemathesis' coverage phase and the schema's examples; generate = EXAMPLES random cases
PHASES = (Phase.explicit, Phase.generate) if os.environ.get("POSITRON_FUZZ_COVERAGE") else (Phase.generate,)
LOG = os.environ.get("POSITRON_FUZZ_LOG")


SPEC = Path(__file__).resolve().parents[2] / "openapi" / "positron.openapi.json"
schema = schemathesis.openapi.from_path(SPEC)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = {k: v for k, v in demo_config(KEY).items() if k not in ("demo", "server", "api_keys")}
    config["security"] = {"audit": {"destination": None}}
    with serve(config, tmp_path_factory.mktemp("fuzz")) as base:
        yield base


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    phases=PHASES,
    deadline=None,
    derandomize="POSITRON_FUZZ_EXAMPLES" not in os.environ,  # CI: the same cases every run; the bench: new ones
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_and_every_response_matches_the_schema(case: schemathesis.Case, base_url: str) -> None:
    response = case.call_and_validate(base_url=base_url, headers=AUTH, excluded_checks=LENIENT)
    if LOG:
        with Path(LOG).open("a") as log:
            log.write(json.dumps({"operation": case.operation.label, "status": response.status_code}) + "\n")
    assert response.status_code < 500


# Beyond the OpenAPI document: the variant-name route (not in the schema) and the items inside batch and enrich
# bodies, which the schema describes only loosely (a raw alert is any object). Hostile JSON everywhere: deep and
# odd values, lone surrogates, times at the edges of what datetime holds, raw bytes. Never a 5xx.
TEXT = st.text(st.characters(exclude_categories=()), max_size=24)  # lone surrogates included
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12
)
TIMES = st.sampled_from(
    ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2026-11-20T12:00:00Z", "yesterday", "1e300"]
)
NAMES = st.sampled_from(["ip_to_hostname", "Hash_Reputation", "%49P_TO_HOSTNAME", "team_oncall/", "NO_SUCH"]) | TEXT
VALUES = st.sampled_from(["10.20.0.42", "fec0::1", "jdoe", "\ud800", "ws-042.corp.example"]) | TEXT
ITEMS = st.fixed_dictionaries({"query": NAMES, "value": VALUES}, optional={"at": TIMES, "extra": JSON_VALUES})
BODIES = st.binary(max_size=64).map(lambda raw: ("raw", raw)) | JSON_VALUES.map(lambda doc: ("json", doc))
FUZZ = settings(max_examples=4 * EXAMPLES, deadline=None, derandomize=True, database=None)


def post(base_url: str, path: str, body: tuple[str, Any]) -> httpx.Response:
    kind, payload = body
    content = payload if kind == "raw" else json.dumps(payload).encode()
    headers = {**AUTH, "Content-Type": "application/json"}
    return httpx.post(base_url + path, content=content, headers=headers, timeout=30)


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    assert response.headers["x-request-id"] and response.headers["x-content-type-options"] == "nosniff"
    document = response.json()
    if response.status_code >= 400:
        assert set(document) == {"error"} and document["error"]["message"]


LATE = "9999-12-31T23:59:59-01:00"


@FUZZ
@given(name=NAMES, body=BODIES | ITEMS.map(lambda item: ("json", {**item, "query": None})))
@example(name="ip_to_hostname", body=("raw", b'{"value": "10.20.0.\xff"}'))  # the findings of issue 13, always
@example(name="ip_to_hostname", body=("raw", b"[" * 5000 + b"]" * 5000))
@example(name="ip_to_hostname", body=("raw", b'{"value": ' + b"9" * 5000 + b"}"))
@example(name="ip_to_hostname", body=("json", {"value": "10.20.0.42", "at": LATE}))
def test_the_variant_name_route_never_answers_5xx(base_url: str, name: str, body: tuple[str, Any]) -> None:
    check(post(base_url, "/v1/queries/" + quote(name, safe=""), body))


@FUZZ
@given(items=st.lists(ITEMS | JSON_VALUES, min_size=1, max_size=6), no_cache=st.booleans())
@example(items=[{"query": "IP_TO_HOSTNAME", "value": "10.20.0.42", "at": LATE}], no_cache=False)
@example(items=[{"query": "IP_TO_HOSTNAME", "value": "\ud800"}, {"query": "\ud800", "value": "x"}], no_cache=True)
def test_batch_items_never_answer_5xx(base_url: str, items: list[Any], no_cache: bool) -> None:
    response = post(base_url, "/v1/batch", ("json", {"items": items, "no_cache": no_cache}))
    check(response)
    if response.status_code == 200:
        results = response.json()["results"]
        assert [r["index"] for r in results] == list(range(len(items)))
        assert all(r["status"] < 500 for r in results)


@FUZZ
@given(
    alert=st.dictionaries(TEXT | st.sampled_from(["src_ip", "user", "_time", "url"]), JSON_VALUES | VALUES, max_size=6),
    queries=st.none() | st.lists(NAMES, max_size=3),
    at=st.none() | TIMES,
)
@example(alert={"sid": "1", "result": {"src_ip": "10.20.0.42"}}, queries=None, at=LATE)
@example(alert={"sid": "1", "result": {"\ud800": "10.20.0.42", "user": "\ud800"}}, queries=["\ud800"], at=None)
def test_enrich_alerts_never_answer_5xx(base_url: str, alert: dict[str, Any], queries: Any, at: Any) -> None:
    body = {"alert": alert, **({"queries": queries} if queries is not None else {}), **({"at": at} if at else {})}
    check(post(base_url, "/v1/enrich", ("json", body)))
