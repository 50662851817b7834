"""A Positron server for benchmarks: N sleepy providers, run under uvicorn in this process.

python -m bench.server PORT PROVIDERS DELAY_S
"""

from __future__ import annotations

import sys

import uvicorn

from bench.sleepy import Sleepy
from positron.api import create_app
from positron.broker import Broker
from positron.config import parse_settings
from positron.registry import Registry

BENCH_KEY = "bench-key-0123456789abcdefghijklmnop"


def main() -> None:
    port, count, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    registry = Registry.from_entry_points()
    registry.register(Sleepy)
    providers = {f"p{i}": {"type": "sleepy", "delay_s": delay} for i in range(count)}
    config = {
        "api_keys": [{"principal": "bench", "key": BENCH_KEY}],
        "providers": providers,
        "engine": {"cache_entries": 0},
    }
    app = create_app(Broker(parse_settings(config, registry), registry))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
