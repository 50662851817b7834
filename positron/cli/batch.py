"""``positron batch FILE``: look up a list of IOCs (or any query's values) with a progress bar; JSON or CSV out.

FILE (``-`` for stdin) is one value a line (blank lines and ``#`` comments skipped), or a CSV whose header has a
``value`` column and optionally ``query`` and ``at``. Each value is asked ``--query``, else its row's ``query``,
else the reputation query its kind calls for (a hash → HASH_REPUTATION, an IP → IP_REPUTATION, a domain →
DOMAIN_REPUTATION). In-process, items run through ``positron.workflows.batch`` (identical items once,
``workflows.batch_concurrency`` at a time), each through the same lookup as ``positron query``; with
``--server`` they go to ``POST /v1/batch`` in chunks. Results keep the file's order. Exit 1 when an item failed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from positron.cli.common import CONFIG, KEY, SERVER, err, fail
from positron.cli.remote import post_json
from positron.errors import InvalidInput, PositronError, QueryError
from positron.inputs import normalize_domain, normalize_hash, normalize_ip
from positron.workflows.batch import ItemError, ItemOutcome, check_budget, group, run_batch


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One line or row of the file: the query to ask, the raw value, and an optional point in time."""

    query: str
    value: str
    at: datetime | None = None


BY_KIND: tuple[tuple[Callable[[str], str], str], ...] = (
    (normalize_hash, "HASH_REPUTATION"),
    (normalize_ip, "IP_REPUTATION"),
    (normalize_domain, "DOMAIN_REPUTATION"),
)
CSV_COLUMNS = ("index", "query", "value", "at", "status", "answer", "confidence", "conflict", "sources", "error")
SERVER_CHUNK = 100  # items per POST /v1/batch with --server (progress moves per chunk)


@click.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--query", "query_name", default=None, help="Ask every value this query (default: by value kind)")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default=None, help="Output (default: json)")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help="Write here (default: stdout)")
@CONFIG
@SERVER
@KEY
def batch(
    file: IO[str],
    query_name: str | None,
    fmt: str | None,
    output: Path | None,
    config: Path | None,
    server: str | None,
    key: str | None,
) -> None:
    """Look up every IOC in FILE (one a line, or a CSV with a value column) with a progress bar."""
    items = read_items(file.read(), query_name)
    if not items:
        err.print("[bold red]error:[/] no values in the file", highlight=False)
        sys.exit(2)
    fmt = fmt or ("csv" if output is not None and output.suffix.lower() == ".csv" else "json")
    try:
        with _progress(len(items)) as advance:
            results = _remote(server, key, items, advance) if server else _here(config, items, advance)
    except PositronError as exc:
        fail(exc)
    text = to_csv(items, results) if fmt == "csv" else json.dumps(_with_items(items, results), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    failed = sum(1 for r in results if r["error"] is not None)
    err.print(f"{len(items) - failed} of {len(items)} answered" + (f", {failed} failed" if failed else ""))
    if failed:
        sys.exit(1)


def read_items(text: str, query_name: str | None) -> list[BatchItem]:
    """The file's items: a CSV with a ``value`` header column, else one value a line."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return []
    header = [h.strip().casefold() for h in next(csv.reader([lines[0]]))]
    if "value" in header:
        rows = csv.DictReader(io.StringIO("\n".join(lines)), fieldnames=header)
        next(rows)
        return [_item(r.get("value") or "", query_name or r.get("query"), r.get("at")) for r in rows]
    return [_item(line, query_name, None) for line in lines]


def _item(value: str, query_name: str | None, at: str | None) -> BatchItem:
    value = value.strip()
    when = None
    if at and at.strip():
        try:
            when = datetime.fromisoformat(at.strip())
        except ValueError:
            raise click.BadParameter(
                f"expected RFC 3339 in the at column, e.g. 2026-11-20T09:14:00Z; got {at!r}"
            ) from None
    return BatchItem(query_name.strip() if query_name and query_name.strip() else _by_kind(value), value, when)


def _by_kind(value: str) -> str:
    for normalize, name in BY_KIND:
        try:
            normalize(value)
        except InvalidInput:
            continue
        return name
    return "HASH_REPUTATION"  # none fits: the item fails with that query's "expected ..." message


class _progress:  # noqa: N801 (a context manager used like a function)
    """A rich progress bar on stderr; ``advance(n)`` as items finish."""

    def __init__(self, total: int) -> None:
        self.bar = Progress(
            TextColumn("lookups"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
        )
        self.task = self.bar.add_task("batch", total=total)

    def __enter__(self) -> Callable[[int], None]:
        self.bar.start()
        return lambda n: self.bar.advance(self.task, n)

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


def _here(config: Path | None, items: list[BatchItem], advance: Callable[[int], None]) -> list[dict[str, Any]]:
    """Every item through the one guarded entry point as the config's ``cli`` principal (each refused item gets
    its own error and audit line), identical lookups once, ``workflows.batch_concurrency`` at a time."""
    from positron.broker import AuditContext
    from positron.cli.commands import _local_broker
    from positron.results import result_body

    broker = _local_broker(config)
    caller = broker.guard.caller(broker.local_principal(), context=AuditContext(uuid.uuid4().hex, "cli"))
    results: list[dict[str, Any]] = [{}] * len(items)

    def prepare(item: BatchItem) -> Any:
        try:
            return caller.prepare(item.query, item.value, item.at)
        except QueryError as exc:
            return ItemError.of(exc)

    async def run() -> None:
        await broker.start()
        try:
            prepared = [prepare(item) for item in items]
            check_budget(len(group(prepared)[0]), broker.settings.workflows.max_lookups)
            concurrency = broker.settings.workflows.batch_concurrency
            async for indices, outcome in run_batch(prepared, caller.execute, concurrency=concurrency):
                for index in indices:
                    results[index] = _outcome(outcome, result_body)
                advance(len(indices))
        finally:
            await broker.close()

    asyncio.run(run())
    return results


def _outcome(outcome: ItemOutcome, body: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    if isinstance(outcome, ItemError):
        return {
            "status": outcome.status_code,
            "result": None,
            "error": {"code": outcome.code, "message": outcome.message},
        }
    return {"status": 200, "result": body(outcome), "error": None}


def _remote(
    server: str, key: str | None, items: list[BatchItem], advance: Callable[[int], None]
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for start in range(0, len(items), SERVER_CHUNK):
        chunk = items[start : start + SERVER_CHUNK]
        body = {"items": [_item_json(i) for i in chunk]}
        answered = post_json(server, "/v1/batch", body, key)["results"]
        results += [{k: r.get(k) for k in ("status", "result", "error")} for r in answered]
        advance(len(chunk))
    return results


def _item_json(item: BatchItem) -> dict[str, Any]:
    return {"query": item.query, "value": item.value, **({"at": item.at.isoformat()} if item.at else {})}


def _with_items(items: Iterable[BatchItem], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"index": i, **_item_json(item), **result} for i, (item, result) in enumerate(zip(items, results, strict=True))
    ]


def _answer_text(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}={v}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return "" if value is None else str(value)


def to_csv(items: list[BatchItem], results: list[dict[str, Any]]) -> str:
    """One row an item: its best answer, confidence, conflict and sources, or its error."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _with_items(items, results):
        result, error = row["result"] or {}, row["error"]
        best = result.get("answer") or {}
        writer.writerow(
            [
                row["index"],
                row["query"],
                row["value"],
                row.get("at", ""),
                row["status"],
                _answer_text(best.get("value")),
                best.get("confidence", ""),
                result.get("conflict", ""),
                " ".join(s["provider"] for s in best.get("sources", [])),
                error["message"] if error else "",
            ]
        )
    return buffer.getvalue()
