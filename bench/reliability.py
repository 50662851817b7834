"""The reliability suite as part of the benchmark run: the fault-injection tests and a larger schemathesis run,
each in its own pytest process, summarized for docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.procs import ROOT


def _pytest(path: str, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    summary = next((ln for ln in reversed(done.stdout.splitlines()) if re.search(r"\d+ (passed|failed)", ln)), "")
    return done.returncode, summary.strip("= "), time.monotonic() - started


def faults() -> dict[str, Any]:
    code, summary, seconds = _pytest("tests/reliability/test_faults.py")
    return {"ok": code == 0, "summary": summary, "seconds": round(seconds, 1)}


def fuzz(examples_per_operation: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "fuzz.jsonl"
        env = {
            "POSITRON_FUZZ_EXAMPLES": str(examples_per_operation),
            "POSITRON_FUZZ_COVERAGE": "1",
            "POSITRON_FUZZ_LOG": str(log),
        }
        code, summary, seconds = _pytest("tests/reliability/test_fuzz.py", env)
        cases = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    statuses = Counter(c["status"] for c in cases)
    return {
        "ok": code == 0,
        "summary": summary,
        "seconds": round(seconds, 1),
        "cases": len(cases),
        "operations": len({c["operation"] for c in cases}),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for status, n in statuses.items() if status >= 500),
    }
