"""Where a server's CPU time goes: py-spy samples the process while it is under load, and each sample is charged to
the innermost frame that belongs to a known part (provider code, merge, engine, FastAPI, uvicorn, ...).

Optional: without py-spy (``.venv/bin/pip install py-spy``; it needs ptrace rights) the breakdown is skipped.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

# (part, path fragments): the first part whose fragment is in a frame's file decides, walking from the leaf up.
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("provider: upstream HTTP (aiohttp client)", ("aiohttp/", "yarl/", "multidict/", "aiohappyeyeballs/")),
    ("provider: virustotal.py (checks, answer building)", ("/providers/",)),
    ("merge", ("positron/merge.py",)),
    ("audit log", ("positron/security/audit.py", "logging/")),
    ("auth, ACL, egress, guard", ("positron/security/",)),
    ("auth, ACL, egress, guard", ("casbin/", "simpleeval")),
    (
        "engine: fan-out, cache, single-flight, limits, circuits, metrics",
        (
            "positron/engine.py",
            "positron/state/cache.py",
            "positron/state/singleflight.py",
            "positron/state/circuit.py",
            "positron/state/ratelimit.py",
            "positron/telemetry/metrics.py",
            "positron/state/backends.py",
            "positron/state/redis.py",
            "prometheus_client/",
            "redis/",
        ),
    ),
    ("response body (schemas.py, JSON encoding)", ("positron/api/schemas.py", "starlette/responses.py")),
    ("request ids, security headers (middleware.py)", ("positron/api/middleware.py", "uuid.py")),
    ("FastAPI/Starlette/pydantic: routing, dependencies, validation", ("fastapi/", "starlette/", "pydantic")),
    ("FastAPI/Starlette/pydantic: routing, dependencies, validation", ("positron/api/",)),
    ("uvicorn (HTTP/1.1 server)", ("uvicorn/", "httptools")),
    ("event loop (asyncio/uvloop)", ("asyncio/", "uvloop", "Runner.run")),
]
DECODE, ENCODE = "json/decoder.py", "json/encoder.py"


def available() -> str | None:
    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


def classify(frames: list[str]) -> str:
    """The part one sample (frames root → leaf) is charged to."""
    for frame in reversed(frames):
        if DECODE in frame:
            providers = any("/providers/" in f for f in frames)
            return "provider: JSON parsing of upstream answers" if providers else "request JSON parsing"
        if ENCODE in frame:
            if any("positron/security/audit.py" in f for f in frames):
                return "audit log"
            return "response body (schemas.py, JSON encoding)"
        for part, fragments in PARTS:
            if any(fragment in frame for fragment in fragments):
                return part
    return "other"


def breakdown(raw: str) -> dict[str, float]:
    """Share of the main thread's samples per part, from py-spy's raw output recorded with ``--threads``.

    Only the event loop's thread counts: py-spy reports the audit log's writer thread as busy while it waits on
    its queue, which would charge its idle time to the audit log.
    """
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        thread, _, frames = stack.partition(";")
        if frames and count.isdigit() and thread.endswith("MainThread"):
            counts[classify(frames.split(";"))] += int(count)
    total = sum(counts.values()) or 1
    return {part: n / total for part, n in counts.most_common()}


def record(pid: int, seconds: float, rate: int = 200) -> dict[str, float] | None:
    """Sample ``pid`` for ``seconds``; None when py-spy is missing or may not attach."""
    exe = available()
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "profile.txt"
        command = [exe, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", str(rate), "-f", "raw", "--threads"]
        # blocking mode (the default) pauses the process per sample: slower, but --nonblocking over-counts
        # frames that sit in system calls (os.urandom, writes) and so misplaces the time
        done = subprocess.run([*command, "-o", str(out)], capture_output=True, text=True)
        if done.returncode != 0 or not out.exists():
            return None
        return breakdown(out.read_text())
