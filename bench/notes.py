"""The reliability sections of docs/benchmarks.md and the notes on each goal, with this run's numbers.

The prose lives in bench/notes.md, one ``<!-- section: name -->`` per note; this module only computes the numbers
each note names and picks which notes apply to this run.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

NOTES = Path(__file__).with_name("notes.md")
_SECTION = re.compile(r"^<!-- section: ([a-z-]+) -->$", re.M)


@cache
def _sections() -> dict[str, list[str]]:
    """Section name → its paragraphs, each unwrapped into one line (as docs/benchmarks.md keeps them)."""
    parts = _SECTION.split(NOTES.read_text())
    return {
        name: [" ".join(block.split("\n")) for block in body.strip().split("\n\n")]
        for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def paragraphs(name: str, **values: Any) -> list[str]:
    """A section's paragraphs with ``values`` filled in, each followed by a blank line."""
    return [line for text in _sections()[name] for line in (text.format(**values), "")]


def fragment(name: str, **values: Any) -> str:
    """A ``+`` section: text that continues the previous paragraph."""
    (text,) = _sections()[name]
    return text.removeprefix("+").format(**values)


def notes(r: dict[str, Any]) -> list[str]:
    return [*reliability(r), *analysis(r)]


def reliability(r: dict[str, Any]) -> list[str]:
    lines = ["## Reliability", ""]
    if "faults" in r:
        f = r["faults"]
        lines += paragraphs("faults", summary=f["summary"], result="all passed" if f["ok"] else "FAILURES")
    if "fuzz" in r:
        z = r["fuzz"]
        statuses = ", ".join(f"{status} × {n}" for status, n in z["statuses"].items())
        lines += paragraphs("fuzz", **{**z, "statuses": statuses})
    if "load" in r:
        lines += _load(r["load"])
    return lines


def _load(load: dict[str, Any]) -> list[str]:
    if "skipped" in load:
        return paragraphs("load-skipped", skipped=load["skipped"])
    return paragraphs(
        "load",
        **{**load, "events": "; ".join(load["events"]), "failures": load["failures"] or ""},
        tenths=" · ".join(f"{t['p50_ms']:.0f}/{t['p99_ms']:.0f}" for t in load["by_tenth"]),
        degraded=", ".join(f"{k} × {v}" for k, v in load["degraded_provider_statuses"].items()) or "none",
        rps=load["requests"] / load["seconds"],
    )


def analysis(r: dict[str, Any]) -> list[str]:
    if "fanout" not in r:
        return []
    c = r["fanout"]["c"]
    lines = ["## Notes on the goals", ""]
    lines += _latency_note(r["fanout"]["a"], r.get("engine"))
    lines += _throughput_note(r)
    hit, bare = c["positron"].cpu_ms_per_request, c["bare"].cpu_ms_per_request
    lines += paragraphs("cache-hits", hit=hit, bare=bare, need=bare / 0.6)
    if "positron_redis" in c:
        redis = c["positron_redis"].cpu_ms_per_request
        lines += paragraphs("cache-hits-redis", redis=redis, extra_us=(redis - hit) * 1000)
    if "batch" in r:
        lines += paragraphs("batch", peak=max(r["batch"]["upstream_peak_in_flight"]))
    return lines + paragraphs("findings")


def _throughput_note(r: dict[str, Any]) -> list[str]:
    f = r["fanout"]
    cpu = {name: s.cpu_ms_per_request for name, s in f["b"].items()}
    rps = {name: s.median("rps") for name, s in f["b"].items()}
    need = cpu["raw"] / 0.8
    served, connections = (sum(u[k] for u in f["upstream"]) for k in ("served", "connections"))
    [text, _] = paragraphs(
        "throughput",
        ceiling=f"{r['settings'].connections / 0.02:,.0f}",
        cpu_positron=cpu["positron"],
        cpu_raw=cpu["raw"],
        need=need,
        less_us=max(0.0, cpu["positron"] - need) * 1000,
        served=served,
        connections=connections,
        rps_16=rps["positron_16"],
        rps_64=rps["positron"],
    )
    if "overhead" in r:
        o = r["overhead"]
        text += fragment("throughput-overhead", ratio=o["engine_miss"] / o["gather"])
    return [text + fragment("throughput-end"), ""]


def _latency_note(a: dict[str, Any], engine: dict[str, Any] | None) -> list[str]:
    pos, raw = a["positron"], a["raw_asgi"]
    sleepy, bare = a["sleepy"].median("p50_ms"), a["bare_sleep"].median("p50_ms")
    [text, _] = paragraphs(
        "latency",
        pos_cpu=pos.cpu_ms_per_request,
        raw_cpu=raw.cpu_ms_per_request,
        pos_p50=pos.median("p50_ms"),
        raw_p50=raw.median("p50_ms"),
        bare=bare,
    )
    if engine is not None:
        e, g = engine["engine"]["p50_ms"], engine["gather"]["p50_ms"]
        text += fragment(
            "latency-engine",
            sleepy=sleepy,
            engine_gap=e - g,
            e=e,
            g=g,
            stack=bare - 20,
            http_layer=max(0.0, sleepy - bare - (e - g)),
        )
    return [text, ""]
