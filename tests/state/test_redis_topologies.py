"""Shared state on a real Redis Cluster (3 masters) and behind a real Sentinel: the cache (one MGET over all of a
lookup's instances), single-flight (lock, cache and hand-off in one script) and the moving-window limits all work
there, because the keys one command touches share a hash tag (issue 15)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from positron.queries import HASH_REPUTATION, IP_TO_HOSTNAME

from positron.config import EngineConfig, RedisConfig
from positron.engine import Engine
from positron.errors import ConfigError
from positron.state.backends import redis_state
from positron.state.redis import RedisUrl
from positron.telemetry.metrics import Metrics
from tests.state.test_shared_state import status
from tests.support.fakes import Fake, fake
from tests.support.redis_topologies import REDIS_CLI, redis_cluster, redis_sentinel


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REDIS_CLI is None:
        pytest.skip("redis-cli is not installed: it is what creates a cluster")
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield url


def engines(url: str, *providers: dict[str, Any], **config: Any) -> list[tuple[Engine, list[Fake]]]:
    """Two replicas on one key prefix, each with its own instances of the same providers."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    out = []
    for _ in range(2):
        fakes = [fake(f"p{i}", **settings) for i, settings in enumerate(providers)]
        shared = RedisConfig.model_validate({"url": url, "prefix": prefix, "retry_s": 0.1})
        out.append((Engine(list(fakes), EngineConfig(**config), state=redis_state(shared, metrics=Metrics())), fakes))
    return out


async def opened(pairs: list[tuple[Engine, list[Fake]]]) -> list[tuple[Engine, list[Fake]]]:
    for eng, _ in pairs:
        await eng.state.open()
    return pairs


async def close(*pairs: tuple[Engine, list[Fake]]) -> None:
    for eng, _ in pairs:
        await eng.state.close()


def test_urls_name_the_deployment_and_a_bad_one_names_the_key_not_the_secret() -> None:
    cluster = RedisUrl.parse("redis+cluster://:s%2Fecret@10.0.0.1:7000,10.0.0.2:7001")
    assert (cluster.mode, cluster.nodes, cluster.password) == ("cluster", [("10.0.0.1", 7000), ("10.0.0.2", 7001)],
                                                               "s/ecret")  # fmt: skip
    sentinel = RedisUrl.parse("redis+sentinel://h1:26379,h2:26379/mymaster/2")
    assert (sentinel.mode, sentinel.service, sentinel.db) == ("sentinel", "mymaster", 2)
    assert RedisUrl.parse("rediss://:pw@h:6380/0").mode == "basic"
    for bad in ("http://:Xy7pass@h:6379", "redis+sentinel://h1:26379", "redis+cluster://:Xy7pass@h:notaport"):
        with pytest.raises(ConfigError) as caught:
            RedisUrl.parse(bad)
        assert caught.value.key == "redis.url" and "Xy7pass" not in str(caught.value)


async def test_cluster_shares_the_cache_with_one_mget_over_instances_in_different_slots(cluster_url: str) -> None:
    (a, fa), (b, fb) = pairs = await opened(engines(cluster_url, {"answer": "ws-1"}, {"answer": "ws-2"}, {}))
    try:
        for i in range(20):  # many lookups: their hash tags spread over every master
            await a.run(IP_TO_HOSTNAME, f"10.1.2.{i}")
        hits = [await b.run(IP_TO_HOSTNAME, f"10.1.2.{i}") for i in range(20)]
        assert all(status(r, name).cached for r in hits for name in ("p0", "p1", "p2"))
        assert [f.calls for f in fb] == [0, 0, 0] and [f.calls for f in fa] == [20, 20, 20]
        assert a.state.redis is not None and a.state.redis.up and b.state.redis is not None and b.state.redis.up
        assert _masters_holding_keys(cluster_url) == 3
    finally:
        await close(*pairs)


async def test_cluster_single_flight_and_window_limits_hold_across_replicas(cluster_url: str) -> None:
    slow = {"answer": "malicious", "delay_s": 0.2}
    (a, fa), (b, fb) = pairs = await opened(engines(cluster_url, slow, deadline_s=30))
    (c, fc), (d, fd) = limited = await opened(
        engines(cluster_url, {"answer": "malicious", "rate_limits": [{"requests": 4, "per_s": 20}]}, deadline_s=10)
    )
    try:
        for burst in range(3):
            value = f"{burst:064x}"
            results = await asyncio.gather(*(eng.run(HASH_REPUTATION, value) for eng in (a, b) for _ in range(50)))
            assert {status(r, "p0").status for r in results} == {"ok"}
            assert fa[0].calls + fb[0].calls == burst + 1
        began = time.monotonic()
        refused = await asyncio.gather(*(eng.run(HASH_REPUTATION, f"{i:064x}") for i, eng in enumerate([c, d] * 5)))
        ended = time.monotonic()
        assert fc[0].calls + fd[0].calls == 4, [status(r, "p0") for r in refused]
        retry = [s.retry_after for r in refused if (s := status(r, "p0")).status == "rate_limited"]
        assert len(retry) == 6 and all(x is not None and 20 - (ended - began) - 0.01 <= x <= 20 for x in retry)
        assert all(eng.state.redis is not None and eng.state.redis.up for eng in (a, b, c, d))
    finally:
        await close(*pairs, *limited)


def _masters_holding_keys(url: str) -> int:
    ports = [int(node.rsplit(":", 1)[1]) for node in url.split("//", 1)[1].split(",")]
    holding = 0
    for port in ports:
        with redis.Redis(port=port) as client:
            holding += int(client.dbsize() > 0)
    return holding


async def test_sentinel_finds_the_master_and_state_is_shared(tmp_path: Path) -> None:
    with redis_sentinel(tmp_path) as (url, master_port):
        (a, fa), (b, fb) = pairs = engines(url, {"answer": "ws-1", "rate_limits": [{"requests": 2, "per_s": 60}]})
        try:
            await a.run(IP_TO_HOSTNAME, "10.1.2.3")
            assert status(await b.run(IP_TO_HOSTNAME, "10.1.2.3"), "p0").cached
            third = status(await b.run(IP_TO_HOSTNAME, "10.1.2.4"), "p0")
            fourth = status(await a.run(IP_TO_HOSTNAME, "10.1.2.5"), "p0")
            assert (third.status, fourth.status) == ("ok", "rate_limited")  # 2/minute, whichever replica asks
            with redis.Redis(port=master_port) as client:
                assert client.dbsize() > 0  # the keys live on the master Sentinel named
        finally:
            await close(*pairs)
