"""Real Redis deployments beyond one server, started by the tests on free 127.0.0.1 ports: a 3-master Redis
Cluster (``redis-server --cluster-enabled yes`` ×3, joined by ``redis-cli --cluster create``) and a master
watched by a Sentinel (``redis-server --sentinel``)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import redis

from tests.support.servers import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli")


def _start(args: list[str], cwd: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    with redis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5) as client:
        while True:
            try:
                client.ping()
                return proc
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError(f"redis on port {port} did not start") from None
                time.sleep(0.02)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def redis_cluster(work_dir: Path, nodes: int = 3) -> Iterator[str]:
    """A running cluster; yields its ``redis+cluster://`` URL (every node listed)."""
    assert REDIS_CLI is not None, "redis-cli is needed to create a cluster"
    ports = [_cluster_port() for _ in range(nodes)]
    with ExitStack() as stack:
        for port in ports:
            node_dir = work_dir / f"node-{port}"
            node_dir.mkdir(parents=True)
            args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no"]  # fmt: skip
            stack.callback(_stop, _start(args, node_dir, port))
        create = [REDIS_CLI, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-replicas", "0",
                  "--cluster-yes"]  # fmt: skip
        subprocess.run(create, check=True, capture_output=True, timeout=60)
        _wait_cluster_ok(ports)
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 <= 65535 and _is_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait_cluster_ok(ports: list[int], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    for port in ports:
        with redis.Redis(port=port, socket_timeout=2) as client:
            while client.cluster("INFO").get("cluster_state") != "ok":
                assert time.monotonic() < deadline, f"cluster node {port} never became ok"
                time.sleep(0.05)


@contextmanager
def redis_sentinel(work_dir: Path, service: str = "mymaster") -> Iterator[tuple[str, int]]:
    """A master and one Sentinel watching it; yields the ``redis+sentinel://`` URL and the master's port."""
    master, sentinel = free_port(), free_port()
    with ExitStack() as stack:
        args = [REDIS_SERVER, "--port", str(master), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        stack.callback(_stop, _start(args, work_dir, master))
        conf = work_dir / "sentinel.conf"  # Sentinel rewrites its config: a file of its own
        conf.write_text(f"port {sentinel}\nbind 127.0.0.1\nsentinel monitor {service} 127.0.0.1 {master} 1\n")
        stack.callback(_stop, _start([REDIS_SERVER, str(conf), "--sentinel"], work_dir, sentinel))
        yield f"redis+sentinel://127.0.0.1:{sentinel}/{service}", master
