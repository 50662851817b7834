"""Load from a separate process: Debian's ``wrk`` with a Lua script for POST bodies and the auth header.

``run`` returns wrk's own counts and latency percentiles (µs resolution) as a ``LoadResult``. Bodies are
``{"value": "<sha256>"}``: one fixed hash (cache hits) or a fresh one per request (every request a cache miss);
mode ``ip`` sends IPv4 addresses (servers measured with it run without a cache), ``none`` sends no body.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

LUA = r"""
wrk.method = "%(method)s"
wrk.headers["Content-Type"] = "application/json"
%(auth)s
local mode = "%(mode)s"
local fixed = "%(fixed)s"
local nonce = "%(nonce)s"
local threads = 0
local counter = 0

setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

request = function()
  if mode == "none" then
    return wrk.format(nil, nil)
  end
  local value = fixed
  if mode == "vary" then
    counter = counter + 1
    value = nonce .. string.format("%%08x", tid) .. string.rep("0", 40) .. string.format("%%08x", counter)
  elseif mode == "ip" then
    counter = counter + 1
    value = string.format("10.%%d.%%d.%%d", tid, math.floor(counter / 250) %% 250, counter %% 250)
  end
  return wrk.format(nil, nil, nil, '{"value": "' .. value .. '"}')
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, ' ..
    '"status": %%d, "timeout": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "mean_us": %%.1f, "max_us": %%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""

FIXED_HASH = "44d88612fea8a8f36de82e1278abb02f44d88612fea8a8f36de82e1278abb02f"


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    errors: int  # connect/read/write errors, timeouts and non-2xx/3xx answers
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: ./dev bench installs it (apt-get install wrk)")
    return found


def run(
    url: str,
    *,
    connections: int,
    seconds: float,
    mode: str = "vary",
    method: str = "POST",
    key: str | None = None,
    cpus: frozenset[int] | None = None,
) -> LoadResult:
    """wrk against ``url`` with ``connections`` open connections for ``seconds``; ``mode``: vary, fixed, ip, none."""
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    nonce = secrets.token_hex(4)  # fresh hashes in every run: no run hits what an earlier one cached
    script = LUA % {"method": method, "auth": auth, "mode": mode, "fixed": FIXED_HASH, "nonce": nonce}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    threads = 1 if connections < 8 else 2
    command = [wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", f.name]
    try:
        out = subprocess.run([*command, url], capture_output=True, text=True, check=True, preexec_fn=_pin(cpus)).stdout
    finally:
        Path(f.name).unlink()
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    d = json.loads(line.removeprefix("BENCH_JSON "))
    errors = d["connect"] + d["read"] + d["write"] + d["status"] + d["timeout"]
    return LoadResult(
        d["requests"],
        d["duration_us"] / 1e6,
        errors,
        d["p50_us"] / 1000,
        d["p90_us"] / 1000,
        d["p99_us"] / 1000,
        d["mean_us"] / 1000,
    )


def _pin(cpus: frozenset[int] | None) -> object:
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)
