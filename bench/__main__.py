"""Run the benchmarks and the reliability suite; write docs/benchmarks.md (``./dev bench`` = ``python -m bench``).

python -m bench                   everything (about 10 minutes on 2 CPUs)
python -m bench --quick           one short round of each, a small fuzz and load run (a smoke test, ~3 min)
python -m bench --skip load,fuzz  leave parts out: fanout, engine, batch, faults, fuzz, load, quality
(quality: the ground-truth answer-quality benchmark, ``python -m bench.quality``, its own section of the file)
python -m bench --no-write        print the Markdown instead of writing docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bench import batch, fanout, latency, overhead, procs, redis_loss, reliability, report
from bench.notes import notes
from bench.quality import __main__ as quality
from bench.quality import report as quality_report
from bench.server import redis_supported
from tests.support.redis_server import RedisServer

T = TypeVar("T")
OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
PARTS = ("fanout", "engine", "overhead", "batch", "faults", "fuzz", "load", "quality")


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")), "?")
    meminfo = Path("/proc/meminfo").read_text().split() if Path("/proc/meminfo").exists() else ["", "0"]
    return {
        "cpu": model,
        "cpus": len(os.sched_getaffinity(0)),
        "ram_gib": int(meminfo[1]) / 1024 / 1024,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load": os.getloadavg(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    place = procs.Placement.detect()
    skip = set(args.skip.split(",")) if args.skip else set()
    settings = fanout.Settings(rounds=1 if args.quick else args.rounds, seconds=2 if args.quick else args.seconds)
    r: dict[str, Any] = {"machine": machine(), "settings": settings, "placement": place.describe()}
    r["started"] = datetime.now(UTC)
    redis = RedisServer() if redis_supported() and "fanout" not in skip else None
    if redis is not None:
        redis.start()
    try:
        steps = {
            "fanout": lambda: fanout.measure(settings, place, redis.url if redis else None),
            "engine": lambda: latency.measure(requests=100 if args.quick else 400),
            "overhead": lambda: _pinned(place, lambda: overhead.measure(1_000 if args.quick else 5_000)),
            "batch": lambda: batch.measure(place, 2_000 if args.quick else 10_000),
            "faults": reliability.faults,
            "fuzz": lambda: reliability.fuzz(2 if args.quick else 5),
            "load": lambda: redis_loss.measure(place, requests=4_000 if args.quick else 20_000),
        }
        for name, step in steps.items():
            if name not in skip:
                print(f"bench: {name} ...", flush=True)
                r[name] = step()
    finally:
        if redis is not None:
            redis.stop()
    return r


def _pinned(place: procs.Placement, fn: Callable[[], T]) -> T:
    """Run ``fn`` in this process on the server's CPU (as the servers under test run), then unpin."""
    if place.server is None:
        return fn()
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, place.server)
    try:
        return fn()
    finally:
        os.sched_setaffinity(0, before)


def render(r: dict[str, Any], command: str) -> str:
    m = r["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"`{command}` on {r['started']:%Y-%m-%d %H:%M} UTC. Machine: {m['cpu']}, {m['cpus']} CPUs, "
        f"{m['ram_gib']:.0f} GiB RAM, {m['os']}, {m['python']}; load average at start "
        f"{m['load'][0]:.2f} (a shared machine: every figure below is a ratio or a median of servers measured "
        "side by side, in rotating order, in this one run).",
        "",
        "Every server runs in its own process on 127.0.0.1 under uvicorn (uvloop, httptools) or aiohttp.web, without "
        f"access logs; {r['placement']}. Load comes from Debian's `wrk` (a Lua script sets the POST body and the "
        f"bearer key), {r['settings'].rounds} rounds × {r['settings'].seconds:g} s per server and figure; each figure "
        "is the median of the rounds. The upstreams (bench/upstream.py) answer VirusTotal's "
        "`GET /api/v3/files/{hash}` with a real 12.6 KB file object after 20 ms.",
        "",
    ]
    if "fanout" in r:
        f = r["fanout"]
        lines += ["## Goals", "", *report.goals(r), ""]
        lines += ["## (a) One query at a time", "", *report.series_table(f["a"], latency=True), ""]
        if "engine" in r:
            lines += [*report.engine_rows(r["engine"]), ""]
        lines += ["## (b) Throughput, cache misses, and (c) cache hits", "", *report.series_table(f["b"], False), ""]
        lines += [*report.series_table(f["c"], latency=False), ""]
        cpu = {"b": f["b"]["positron"].cpu_ms_per_request, "c": f["c"]["positron"].cpu_ms_per_request}
        lines += ["### Where Positron's CPU time goes (py-spy, one extra run each)", ""]
        lines += [*report.profile_rows(f["profiles"], cpu), ""]
    if "overhead" in r:
        lines += ["### Positron's own cost, layer by layer, without a network (bench/overhead.py)", ""]
        lines += [*report.overhead_rows(r["overhead"]), ""]
    lines += notes(r)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--skip", default="", help=f"comma-separated parts to leave out: {', '.join(PARTS)}")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    args = parser.parse_args()
    command = "./dev bench" + (" --quick" if args.quick else "") + (f" --skip {args.skip}" if args.skip else "")
    text = render(run(args), command)
    if args.no_write:
        print(text)
    else:
        kept = quality_report.current()  # the answer-quality section survives a run that skips it
        OUT.write_text(text + ("\n" + kept if kept else ""))
        print(f"wrote {OUT}")
        if "quality" not in set(args.skip.split(",")):
            print("bench: quality ...", flush=True)
            quality.main(["--write", *(["--hosts", "120", "--lookups", "240"] if args.quick else [])])


if __name__ == "__main__":
    main()
