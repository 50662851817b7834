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

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

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
