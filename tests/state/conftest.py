"""Fixtures for the shared-state suite: one real redis-server per module, engines on either backend."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from positron.config import CircuitConfig, EngineConfig, RedisConfig
from positron.engine import Engine
from positron.state.backends import State, memory_state, redis_state
from positron.telemetry.metrics import Metrics
from tests.support.fakes import Fake
from tests.support.redis_server import RedisServer, redis_server

BuildEngine = Callable[..., Engine]


@pytest.fixture(scope="module")
def redis_srv() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


def redis_config(server: RedisServer, prefix: str, **extra: Any) -> RedisConfig:
    return RedisConfig.model_validate({"url": server.url, "prefix": prefix, **extra})


@pytest.fixture(params=["memory", "redis", "redis+local"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], State]]:
    """A factory of States on the parametrized backend (in-memory, Redis, Redis with a local near-cache); States
    made by one test share one Redis key prefix, like replicas of one deployment (memory States share nothing)."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    server: RedisServer | None = request.getfixturevalue("redis_srv") if request.param != "memory" else None
    local = {"local_cache_s": 0.5} if request.param == "redis+local" else {}
    made: list[State] = []

    def make() -> State:
        if server is None:
            state = memory_state(1000, Metrics())
        else:
            state = redis_state(redis_config(server, prefix, **local), metrics=Metrics())
        made.append(state)
        return state

    yield make
    for state in made:
        await state.close()


@pytest.fixture
def build(backend: Callable[[], State]) -> BuildEngine:
    """``build(*fakes, state=None, circuit=None, **engine_config)``: an Engine on the test's backend."""

    def make(*providers: Fake, state: State | None = None, circuit: dict[str, Any] | None = None, **config: Any):
        return Engine(
            list(providers),
            EngineConfig(**config),
            state=state or backend(),
            circuit=CircuitConfig(**(circuit or {"failures": 0})),
        )

    return make
