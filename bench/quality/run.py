"""Run the simulated world through a real ``positron serve`` and its providers; one record per lookup.

The lookups: for each coverage stratum (dhcp_full, dhcp_short, static) and age stratum (now, hours, days, weeks)
an equal share, each at a random moment of that age when some host held the address (an alert implies
traffic), plus every person's manager (people, now). A record keeps what the answer said and what each provider
claimed for `at` (the source the merge counted for it: ``current``; an older server without that field: the
provider's best-scored source), so single-source accuracy and the oracle come from the same responses.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from bench.quality import people, sources
from bench.quality.world import DAY, Params, World, build
from tests.emulators.splunk import SplunkEmulator
from tests.support.servers import free_port, positron_server
from tests.support.slapd import BIND_PASSWORD as BIND

KEY = "bench-quality-key-0123456789abcdefgh"
AGES = {"now": None, "hours": (600.0, DAY), "days": (DAY, 7 * DAY), "weeks": (7 * DAY, 29 * DAY)}
COVERAGE = ("dhcp_full", "dhcp_short", "static")


@dataclass
class Record:
    coverage: str
    age: str
    truth: str
    answer: str | None
    confidence: float
    conflict: bool
    claims: dict[str, str] = field(default_factory=dict)  # provider -> its value for `at`
    returned: set[str] = field(default_factory=set)  # every value any provider returned
    raw: float | None = None  # the uncalibrated score, when the server reports it (why.score)
    tier: str | None = None
    agreeing: int = 0  # providers counted in the answer's score

    @property
    def right(self) -> bool:
        return self.answer == self.truth


def key(value: Any) -> str:
    """Values compare as the query's key does: host names by their first label, people by username."""
    if isinstance(value, dict):
        return str(value.get("username", "")).casefold()
    return str(value).casefold().split(".", 1)[0]


def lookups(world: World, rng: random.Random) -> list[tuple[str, str, str, float | None]]:
    """(coverage, age, ip, at) for ``params.lookups`` network lookups, stratified evenly."""
    out = []
    cells = [(c, a) for c in COVERAGE for a in AGES]
    for i in range(world.params.lookups):
        coverage, age = cells[i % len(cells)]
        ips = world.scopes[coverage]
        for _ in range(1000):
            span = AGES[age]
            t = world.now if span is None else world.now - rng.uniform(*span)
            ip = rng.choice(ips)
            if world.holder(ip, t) is not None:
                out.append((coverage, age, ip, None if span is None else t))
                break
    return out


def record(coverage: str, age: str, truth: str, body: dict[str, Any]) -> Record:
    answer = body.get("answer")
    claims: dict[str, tuple[bool, float, str]] = {}
    returned = set()
    for group in body.get("answers", []):
        for s in group["sources"]:
            returned.add(key(s["value"]))
            rank = (bool(s.get("current", True)), float(s["score"]), key(s["value"]))
            if s["provider"] not in claims or rank > claims[s["provider"]]:
                claims[s["provider"]] = rank
    why = (answer or {}).get("why") or {}
    return Record(
        coverage,
        age,
        truth,
        key(answer["value"]) if answer else None,
        float(answer["confidence"]) if answer else 0.0,
        bool(body.get("conflict")),
        {p: v for p, (current, _, v) in claims.items() if current},
        returned,
        why.get("score"),
        why.get("evidence"),
        len(why.get("providers") or ()),
    )


@contextmanager
def served(world: World, root: Path, *, in_process: bool = False) -> Iterator[str]:
    """The sources up (Splunk emulator, slapd, files) and a server over them: ``positron serve`` in its own
    process, or (``in_process``, for the CI test: no second interpreter to start) the same app under uvicorn in a
    thread of this one."""
    emu = SplunkEmulator()
    sources.seed_splunk(world, emu)
    port = emu.start()
    try:
        with people.directory(world, root) as folks:
            config = {
                "api_keys": [{"principal": "bench", "key": {"env": "BENCH_QUALITY_KEY"}, "groups": ["admins"]}],
                "engine": {"deadline_s": 30, "retries": 0},
                "providers": sources.providers(world, root, port) | folks,
            }
            path = root / "positron.yaml"
            path.write_text(yaml.safe_dump(config))
            env = {"BENCH_QUALITY_KEY": KEY, "BENCH_SPLUNK_PASSWORD": emu.password, "BENCH_LDAP_PASSWORD": BIND}
            server = _thread_server(path, env) if in_process else positron_server_at(path, env)
            with server as base:
                yield base
    finally:
        emu.stop()


@contextmanager
def positron_server_at(path: Path, env: dict[str, str]) -> Iterator[str]:
    with positron_server("--config", str(path), env=env, start_timeout_s=120) as (base, _):
        yield base


@contextmanager
def _thread_server(path: Path, env: dict[str, str]) -> Iterator[str]:
    # imported here: ``python -m bench.quality`` runs with the checkout first on sys.path, where positron.acl
    # (installed from acl/) is not importable; only the in-process mode (pytest) needs the app in this process
    from positron.api.app import create_app
    from positron.broker import Broker
    from positron.config import load_settings
    from positron.registry import Registry

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the config's {env: ...} secrets resolve at load
    try:
        registry = Registry.from_entry_points()
        app = create_app(Broker(load_settings(path, registry), registry))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name="positron-quality", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-process server did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _ask(client: httpx.Client, base: str, query: str, value: str, at: float | None) -> dict[str, Any]:
    body: dict[str, Any] = {"value": value, "no_cache": True}
    if at is not None:
        body["at"] = datetime.fromtimestamp(at, UTC).isoformat()
    r = client.post(f"{base}/v1/queries/{query}", json=body, headers={"Authorization": f"Bearer {KEY}"})
    r.raise_for_status()
    result: dict[str, Any] = r.json()
    return result


def simulate(params: Params, *, workers: int = 4, in_process: bool = False) -> list[Record]:
    """Build the world from ``params.seed``, serve it, ask every lookup; the records, in lookup order."""
    now = float(int(datetime.now(UTC).timestamp()) // 60 * 60)
    world = build(params, now)
    rng = random.Random(params.seed * 7919 + 1)
    asks = lookups(world, rng)
    with (
        tempfile.TemporaryDirectory(prefix="positron-quality-") as tmp,
        served(world, Path(tmp), in_process=in_process) as base,
    ):
        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(workers) as pool:
            net = list(pool.map(lambda a: _ask(client, base, "IP_TO_HOSTNAME", a[2], a[3]), asks))
            folks = list(pool.map(lambda p: _ask(client, base, "USER_MANAGER", p.username, None), world.people))
            pool.shutdown()
    records = [
        record(c, age, key(world.holder(ip, at if at is not None else now)), body)
        for (c, age, ip, at), body in zip(asks, net, strict=True)
    ]
    records += [record("people", "now", p.managers[-1][1], body) for p, body in zip(world.people, folks, strict=True)]
    return records
