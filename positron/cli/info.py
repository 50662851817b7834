"""``positron queries`` and ``positron providers``: what can be asked, and of whom.

In-process they read the config (or the demo) and open nothing; with ``--server`` they show what that server
says your key may use (``GET /v1/queries``, ``GET /v1/providers``, the latter with health and quota).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from positron.cli.common import CONFIG, KEY, SERVER, fail, out, print_rows, settings_for
from positron.cli.remote import get_json
from positron.errors import PositronError
from positron.inputs import EXPECTED
from positron.registry import Registry
from positron.security.egress import default_max_tlp

JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON")


def _broker(config: Path | None) -> Any:
    from positron.broker import Broker

    registry = Registry.from_entry_points()
    return Broker(settings_for(config, registry)[0], registry)


@click.command()
@CONFIG
@JSON
@SERVER
@KEY
def queries(config: Path | None, as_json: bool, server: str | None, key: str | None) -> None:
    """The standardized queries: input, whether they take a time, and the instances answering each."""
    try:
        rows = get_json(server, "/v1/queries", key) if server else _local_queries(config)
    except PositronError as exc:
        fail(exc)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = [
        (
            r["name"],
            r["input"],
            "yes" if r["accepts_at"] else "",
            ", ".join(r["providers"]) or "(none)",
            r["description"],
        )
        for r in rows
    ]
    print_rows(("query", "input", "at", "providers", "description"), table)


def _local_queries(config: Path | None) -> list[dict[str, Any]]:
    broker = _broker(config)
    return [
        {
            "name": q.name,
            "description": q.description,
            "input": str(q.input),
            "input_expected": EXPECTED[q.input],
            "accepts_at": q.accepts_at,
            "providers": [i.name for i in broker.engine.answering(q)],
        }
        for q in broker.engine.catalog.values()
    ]


@click.command()
@CONFIG
@JSON
@SERVER
@KEY
def providers(config: Path | None, as_json: bool, server: str | None, key: str | None) -> None:
    """The configured provider instances: type, queries, egress and trust (--server adds health and quota)."""
    try:
        rows = get_json(server, "/v1/providers", key) if server else _local_providers(config)
    except PositronError as exc:
        fail(exc)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    with_health = any("health" in row for row in rows)
    columns = ("instance", "type", "queries", "egress", "max_tlp", "weight", *(["health"] if with_health else []))
    print_rows(columns, [_provider_row(row, with_health) for row in rows])


def _provider_row(row: dict[str, Any], with_health: bool) -> list[str]:
    cells = [row["name"], row["type"], ", ".join(row["queries"]), row["egress"], row["max_tlp"], f"{row['weight']:g}"]
    if with_health:
        cells.append(("ok " if row["healthy"] else "DOWN ") + row["health"])
    return cells


def _local_providers(config: Path | None) -> list[dict[str, Any]]:
    broker = _broker(config)
    rows = []
    for name, inst in broker.engine.instances.items():
        cfg = inst.provider.config
        rows.append(
            {
                "name": name,
                "type": inst.provider.type_name,
                "queries": inst.provider.serves(),
                "egress": cfg.egress,
                "max_tlp": cfg.max_tlp or default_max_tlp(cfg.egress),
                "weight": cfg.weight,
                "timeout_s": cfg.timeout_s,
            }
        )
    return rows
