"""Run the benchmarks and print a Markdown table (also written to docs/benchmarks.md)."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path

from bench import latency

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def main() -> None:
    a = latency.measure()
    rows = [
        "| measure | result | goal |",
        "|---|---|---|",
        f"| (a) p50, 1 query over {a['providers']} providers of {a['provider_ms']:g} ms, concurrency 1 "
        f"| {a['p50_ms']} ms ({a['p50_over_limit']}× the {a['provider_ms']:g} ms limit; sequential would be "
        f"{a['sequential_sum_ms']:g} ms) | ≤ 23 ms, ≤ 1.15× |",
        f"| (a) p99, same | {a['p99_ms']} ms | — |",
    ]
    text = "\n".join(
        [
            "# Benchmarks",
            "",
            f"Run `./dev bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
            f"{platform.python_implementation()} {platform.python_version()}, {_cpus()} CPUs. "
            "Server under uvicorn in its own process; load from this process over loopback.",
            "",
            *rows,
            "",
        ]
    )
    OUT.write_text(text)
    print(text)


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
