"""The README's sample outputs, produced by the real demo rather than typed by hand.

Each sample in README.md sits between ``<!-- demo-output: NAME -->`` and ``<!-- /demo-output -->`` and is the
output of one request to the embedded demo (the same providers and data ``./dev demo`` serves), run in-process::

    python -m positron.demo.readme            # exit 1 and say which samples are stale
    python -m positron.demo.readme --write    # rewrite them in README.md

Only samples whose request is fully determined are generated (a time is given, so recency does not depend on the
day the README is read). Timings (``took_ms``, ``elapsed_ms``) vary from run to run: ``normalized`` blanks them
when comparing, and ``--write`` leaves a sample alone when only its timings differ. tests/cli/test_readme.py fails
when a sample is stale, with the command above.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from positron.demo import demo_config, new_demo_key

BLOCK = re.compile(r"(<!-- demo-output: (?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /demo-output -->)", re.S)
TIMINGS = re.compile(r'"(took_ms|elapsed_ms)": [0-9.]+')
WIDTH = 116
ALERT = {
    "search_name": "Malware on endpoint",
    "sid": "rt_1",
    "result": {
        "user": "CORP\\jdoe",
        "md5": "44d88612fea8a8f36de82e1278abb02f",
        "src_ip": "10.20.0.42",
        "_time": "2026-11-20T12:00:00Z",
    },
}


def compact(value: Any, indent: int = 0) -> str:
    """JSON that keeps a container on one line when it fits in WIDTH, else packs its members into lines that do."""
    flat = json.dumps(value, ensure_ascii=False)
    if len(flat) + indent <= WIDTH or not isinstance(value, dict | list) or not value:
        return flat
    inner = indent + 1
    if isinstance(value, dict):
        members = [f"{json.dumps(k)}: {compact(v, inner + len(json.dumps(k)) + 2)}" for k, v in value.items()]
        opening, closing = "{", "}"
    else:
        members = [compact(v, inner) for v in value]
        opening, closing = "[", "]"
    lines: list[str] = []
    for member in members:
        if lines and "\n" not in lines[-1] and "\n" not in member and len(lines[-1]) + len(member) + 2 <= WIDTH - inner:
            lines[-1] += ", " + member
        else:
            lines.append(member)
    return opening + (",\n" + " " * inner).join(lines) + closing


async def _with_broker(work: Callable[[Any], Awaitable[str]]) -> str:
    from positron.broker import Broker
    from positron.config import parse_settings
    from positron.registry import Registry

    registry = Registry.from_entry_points()
    config = demo_config(new_demo_key())
    config["security"] = {"audit": {"destination": None}}
    broker = Broker(parse_settings(config, registry), registry)
    await broker.start()
    try:
        return await work(broker)
    finally:
        await broker.close()


async def _ip_to_hostname_at(broker: Any) -> str:
    from positron.results import result_body

    at = datetime.fromisoformat("2026-11-20T12:00:00Z")
    result = await broker.ask(broker.local_principal(), "IP_TO_HOSTNAME", "10.20.0.42", at)  # as the CLI would
    return "```json\n" + compact(result_body(result)) + "\n```\n"


async def _enrich_markdown(broker: Any) -> str:
    from positron.workflows import enrich as enrichment

    job = enrichment.parse_request(ALERT, broker.settings.workflows, broker.engine.catalog)
    result = await enrichment.enrich(job, broker.guard.caller(broker.local_principal()), broker.settings.workflows)
    return "```markdown\n" + str(result["markdown"]) + "```\n"


SAMPLES: dict[str, Callable[[Any], Awaitable[str]]] = {
    "ip_to_hostname_at": _ip_to_hostname_at,
    "enrich_markdown": _enrich_markdown,
}


def generate(name: str) -> str:
    return asyncio.run(_with_broker(SAMPLES[name]))


def normalized(text: str) -> str:
    return TIMINGS.sub(lambda m: f'"{m[1]}": 0', text)


def stale(readme: str) -> dict[str, str]:
    """Sample name → what the demo gives now, for every sample whose README text differs beyond timings."""
    found = {m["name"]: m["body"] for m in BLOCK.finditer(readme)}
    if unknown := set(found) - set(SAMPLES):
        raise ValueError(f"unknown demo-output sample(s): {', '.join(sorted(unknown))}")
    fresh = {name: generate(name) for name in found}
    return {name: fresh[name] for name in found if normalized(found[name]) != normalized(fresh[name])}


def rewrite(readme: str, fresh: dict[str, str]) -> str:
    return BLOCK.sub(lambda m: m[1] + fresh.get(m["name"], m["body"]) + m[4], readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m positron.demo.readme", description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--write", action="store_true", help="rewrite the stale samples in place")
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    changed = stale(text)
    if args.write and changed:
        args.readme.write_text(rewrite(text, changed), encoding="utf-8")
    for name in changed:
        sys.stderr.write(f"{args.readme}: sample {name} {'rewritten' if args.write else 'is stale'}\n")
    return 1 if changed and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
