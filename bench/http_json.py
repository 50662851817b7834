"""The cost of declaring instead of coding: http_json vs the coded VirusTotal provider, per IP_REPUTATION lookup,
against the same in-process VirusTotal emulator (no latency).

Run: ``.venv/bin/python bench/http_json.py [--lookups N] [--rounds R]`` (as a script, so ``positron`` is the
installed package). Each round runs N sequential lookups through each provider's ``ask`` (alternating which goes
first); the report gives the median per-lookup wall and CPU time of each and the difference. The emulator runs in
the same process, so both numbers include its work; the difference is the mapping's (templates, JMESPath, model
validation) against the coded parser.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parents[1]))  # tests.emulators, after the installed positron

from positron.providers.http_json import HttpJson  # noqa: E402
from positron.providers.virustotal import VirusTotal  # noqa: E402
from positron.queries import IP_REPUTATION  # noqa: E402

from positron.query import Lookup  # noqa: E402
from tests.emulators.virustotal import VirusTotalEmulator  # noqa: E402
from tests.providers.test_http_json import VT_IP  # noqa: E402

KEY = "bench-key"
IPS = [f"8.8.{i // 250}.{i % 250 + 1}" for i in range(500)]


async def _round(provider: Any, lookups: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(lookups):
        await provider.ask(Lookup(IP_REPUTATION, IPS[i % len(IPS)]))
    return (time.perf_counter() - wall) / lookups * 1e6, (time.process_time() - cpu) / lookups * 1e6


async def bench(lookups: int, rounds: int) -> dict[str, Any]:
    async with VirusTotalEmulator(KEY) as vt:
        for n, ip in enumerate(IPS):
            vt.add_ip(ip, stats={"malicious": n % 5, "harmless": 60, "undetected": 10})
        coded = VirusTotal(
            "vt",
            VirusTotal.Config.model_validate(
                {"type": "virustotal", "api_key": KEY, "base_url": vt.base_url, "rate_limits": []}
            ),
        )
        declared = HttpJson(
            "hj",
            HttpJson.Config.model_validate(
                {
                    "type": "http_json",
                    "base_url": vt.base_url,
                    "auth": {"type": "header", "name": "x-apikey", "value": KEY},
                    "requests": {"IP_REPUTATION": VT_IP},
                }
            ),
        )
        await coded.open()
        await declared.open()
        results: dict[str, list[tuple[float, float]]] = {"coded": [], "http_json": []}
        try:
            await _round(coded, 50)
            await _round(declared, 50)
            for r in range(rounds):
                order = [("coded", coded), ("http_json", declared)]
                for name, provider in order if r % 2 == 0 else order[::-1]:
                    results[name].append(await _round(provider, lookups))
        finally:
            await coded.aclose()
            await declared.aclose()
    out: dict[str, Any] = {"lookups_per_round": lookups, "rounds": rounds}
    for name, rows in results.items():
        out[name] = {
            "wall_us": round(statistics.median(w for w, _ in rows), 1),
            "cpu_us": round(statistics.median(c for _, c in rows), 1),
        }
    out["overhead_wall_us"] = round(out["http_json"]["wall_us"] - out["coded"]["wall_us"], 1)
    out["overhead_cpu_us"] = round(out["http_json"]["cpu_us"] - out["coded"]["cpu_us"], 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench(args.lookups, args.rounds)), indent=2))


if __name__ == "__main__":
    main()
