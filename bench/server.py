"""A Positron server for benchmarks, under uvicorn in this process (as ``positron serve`` runs it, without uvicorn's
access log, like the reference apps; Positron's own audit log stays on, to stdout).

    python -m bench.server PORT sleepy COUNT DELAY_S            # COUNT in-process providers that sleep DELAY_S
    python -m bench.server PORT vt CONCURRENCY URL...           # one virustotal instance per upstream URL
    python -m bench.server PORT vt CONCURRENCY URL... --redis REDIS_URL
    python -m bench.server PORT vt CONCURRENCY URL... --batch-max 10000

The virustotal instances use the provider as shipped (aiohttp, one session per instance); only what a
deployment sets differs: no rate limits (a premium key), ``max_concurrency`` (also the connector's limit).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import uvicorn

from bench.sleepy import Sleepy
from positron.api.app import create_app
from positron.broker import Broker
from positron.config import Settings, parse_settings
from positron.registry import Registry

BENCH_KEY = "bench-key-0123456789abcdefghijklmnop"
UPSTREAM_KEY = "bench-upstream-key-0123456789abcdef"
POLICY = Path(__file__).resolve().parents[1] / "acl" / "policy.csv"


def redis_supported() -> bool:
    """Whether the broker has a ``redis:`` setting yet (issue 5)."""
    return "redis" in Settings.model_fields


def config(args: argparse.Namespace) -> dict[str, Any]:
    providers: dict[str, dict[str, Any]]
    if args.mode == "sleepy":
        providers = {f"p{i}": {"type": "sleepy", "delay_s": args.delay_s} for i in range(args.count)}
    else:
        providers = {
            f"vt{i}": {
                "type": "virustotal",
                "base_url": url,
                "api_key": UPSTREAM_KEY,
                "rate_limits": [],
                "max_concurrency": args.concurrency,
                "timeout_s": 5,
            }
            for i, url in enumerate(args.urls)
        }
    data: dict[str, Any] = {
        # ACL-checked like a deployment: the example policy's "automation" group may run everything on every source
        "api_keys": [{"principal": "bench", "key": BENCH_KEY, "groups": ["automation"]}],
        "security": {"policy": str(POLICY)},
        "providers": providers,
        "engine": {"cache_entries": 0 if args.no_cache else 10_000},
    }
    if args.redis:
        data["redis"] = {"url": args.redis}
    if args.no_audit:
        data["security"]["audit"] = {"destination": None}
    if args.batch_max:
        data["workflows"] = {"batch_max_items": args.batch_max}
    return data


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("port", type=int)
    modes = parser.add_subparsers(dest="mode", required=True)
    sleepy = modes.add_parser("sleepy")
    sleepy.add_argument("count", type=int)
    sleepy.add_argument("delay_s", type=float)
    vt = modes.add_parser("vt")
    vt.add_argument("concurrency", type=int)
    vt.add_argument("urls", nargs="+")
    for sub in (sleepy, vt):
        sub.add_argument("--no-cache", action="store_true")
        sub.add_argument("--redis", default=None)
        sub.add_argument("--batch-max", type=int, default=None, help="workflows.batch_max_items")
        sub.add_argument("--no-audit", action="store_true", help="security.audit.destination: null")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    registry = Registry.from_entry_points()
    registry.register(Sleepy)
    app = create_app(Broker(parse_settings(config(args), registry), registry))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
