"""Child processes for benchmarks: started on loopback, optionally pinned to CPUs, always stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port, wait_http

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Placement:
    """Which CPUs the server under test gets and which the load (driver + upstreams) gets.

    With two or more CPUs the server under test gets CPU 0 alone, so every server is measured on the same one core
    and the load generator never steals its time; with one CPU everything shares it.
    """

    server: frozenset[int] | None
    load: frozenset[int] | None

    @classmethod
    def detect(cls) -> Placement:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return cls(None, None)
        return cls(frozenset(cpus[:1]), frozenset(cpus[1:]))

    def describe(self) -> str:
        if self.server is None or self.load is None:
            return "one CPU shared by the server, the upstreams and the load driver"
        return (
            f"server under test pinned to CPU {_cpus(self.server)}; upstream emulators and the load driver on "
            f"CPU {_cpus(self.load)}"
        )


def _cpus(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    base_url: str = ""
    first_line: str = ""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu_s(self) -> float:
        """User + system CPU time the process has used so far, from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (the peak resident set since start), in KiB, from /proc."""
        found: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(rest.split()[0])
        return found


def _stop(popen: subprocess.Popen[bytes]) -> None:
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)  # SIGINT is ignored by children of a shell's background job
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


@contextmanager
def server(module_args: Sequence[str], cpus: frozenset[int] | None, health: str = "/health") -> Iterator[Proc]:
    """``python -m MODULE PORT ARGS...``: a server that takes its port as the first argument; waits for health."""
    module, *rest = module_args
    port = free_port()
    popen = subprocess.Popen(
        [sys.executable, "-m", module, str(port), *rest], cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    try:
        if cpus is not None:
            os.sched_setaffinity(popen.pid, cpus)
        base = f"http://127.0.0.1:{port}"
        wait_http(base + health, popen)
        yield Proc(popen, base)
    finally:
        _stop(popen)
        if popen.stderr is not None:
            popen.stderr.close()


@contextmanager
def upstreams(count: int, latency_s: float, api_key: str, cpus: frozenset[int] | None) -> Iterator[list[str]]:
    """``count`` VirusTotal-shaped upstreams (bench/upstream.py) in one process; yields their base URLs."""
    popen = subprocess.Popen(
        [sys.executable, "-m", "bench.upstream", str(count), str(latency_s), api_key],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        if cpus is not None:
            os.sched_setaffinity(popen.pid, cpus)
        assert popen.stdout is not None
        line = popen.stdout.readline().decode().split()
        if len(line) != count:
            raise RuntimeError(f"bench.upstream did not start (exit {popen.poll()})")
        yield line
    finally:
        _stop(popen)
        if popen.stdout is not None:
            popen.stdout.close()
