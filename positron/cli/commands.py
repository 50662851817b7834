"""The ``positron`` command: query, enrich and openapi here; serve, check-config, keys, batch, queries and providers
in their own modules (``serve``, ``check``, ``keys``, ``batch``, ``info``), registered on the group below."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from positron.broker import AskOptions, AuditContext, Broker
from positron.cli import batch, check, hooks, info, keys, serve
from positron.cli.common import KEY, SERVER, err, fail, out
from positron.cli.common import settings_for as _settings
from positron.cli.remote import post_json
from positron.config import Settings
from positron.errors import PositronError
from positron.registry import Registry
from positron.security.audit import STDOUT

T = TypeVar("T")


def _fail(exc: PositronError) -> None:
    fail(exc)


@click.group()
@click.version_option(package_name="positron-broker")
def main() -> None:
    """Positron: one API over every source a SOC asks the same questions of.

    Shell completion (bash; zsh and fish alike): eval "$(_POSITRON_COMPLETE=bash_source positron)"
    """


main.add_command(serve.serve)
main.add_command(check.check_config)
main.add_command(keys.keys)
main.add_command(hooks.hooks)
main.add_command(batch.batch)
main.add_command(info.queries)
main.add_command(info.providers)


@main.command()
@click.argument("name")
@click.argument("value")
@click.option("--at", "at", default=None, help="Point in time, RFC 3339 (e.g. 2026-11-20T09:14:00Z)")
@click.option("--provider", "providers", multiple=True, help="Ask only this instance (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON response")
@click.option("--config", "config", type=click.Path(path_type=Path), help="Config file (default: the demo)")
@SERVER
@KEY
def query(
    name: str,
    value: str,
    at: str | None,
    providers: tuple[str, ...],
    as_json: bool,
    config: Path | None,
    server: str | None,
    key: str | None,
) -> None:
    """Run one query: in-process against the configured providers (through the same guard as the API, as the
    config's ``cli`` principal), or on a server with --server."""
    from positron.catalog import canonical_name
    from positron.results import result_body

    when = _parse_at(at)
    try:
        if server:
            body = {"value": value, **({"at": when.isoformat()} if when else {}), "providers": list(providers) or None}
            result = post_json(server, f"/v1/queries/{canonical_name(name)}", body, key)
        else:
            broker = _local_broker(config)
            options, context = AskOptions(providers=list(providers) or None), AuditContext(uuid.uuid4().hex, "cli")
            principal = broker.local_principal()
            ask = lambda: broker.ask(principal, name, value, when, options, context)  # noqa: E731
            result = result_body(asyncio.run(_in_process(broker, ask)))
    except PositronError as exc:
        return _fail(exc)
    if as_json:
        out.print_json(json.dumps(result))
    else:
        _print_result(result)


def _parse_at(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter(
            f"expected RFC 3339, e.g. 2026-11-20T09:14:00Z; got {raw!r}", param_hint="--at"
        ) from None


def _local_broker(config: Path | None) -> Broker:
    """The broker of an in-process command. Its lookups are audited to the config's audit file; with the default
    ``stdout`` destination they are not written (a one-shot command has no log stream, and its stdout carries the
    answer)."""
    registry = Registry.from_entry_points()
    settings, _ = _settings(config, registry)
    audit = settings.security.audit
    if audit.destination == STDOUT:
        audit = audit.model_copy(update={"destination": None})
        settings = settings.model_copy(update={"security": settings.security.model_copy(update={"audit": audit})})
    return Broker(settings, registry)


async def _in_process(broker: Broker, work: Callable[[], Awaitable[T]]) -> T:
    await broker.start()
    try:
        return await work()
    finally:
        await broker.close()


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items() if v not in (None, "", 0))
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _print_result(result: dict[str, Any]) -> None:
    at = f" at {result['at']}" if result["at"] else ""
    out.print(f"[bold]{result['query']}[/] {result['value']}{at}  ({result['took_ms']} ms)", highlight=False)
    answers = Table(
        "rank",
        "answer",
        "confidence",
        "sources",
        title="answers" + ("  [red]CONFLICT[/]" if result["conflict"] else ""),
    )
    for i, ans in enumerate(result["answers"], 1):
        answers.add_row(
            str(i), _show(ans["value"]), f"{ans['confidence']:.2f}", ", ".join(s["provider"] for s in ans["sources"])
        )
    if not result["answers"]:
        answers.add_row("-", "no answer", "", "")
    out.print(answers)
    statuses = Table("provider", "type", "status", "ms", "note", title="providers")
    for p in result["providers"]:
        note = p["error"] or ("cached" if p["cached"] else "")
        statuses.add_row(p["name"], p["type"], p["status"], f"{p['elapsed_ms']:.1f}", note)
    out.print(statuses)


@main.command()
@click.argument("alert", type=click.File("r"))
@click.option("--config", "config", type=click.Path(path_type=Path), help="Config file (default: the demo)")
@click.option("--json", "as_json", is_flag=True, help="Print the whole JSON answer instead of the Markdown")
@SERVER
@KEY
def enrich(alert: Any, config: Path | None, as_json: bool, server: str | None, key: str | None) -> None:
    """Enrich a raw alert (JSON file, or - for stdin) and print the Markdown summary (--json: everything)."""
    try:
        payload = json.load(alert)
    except json.JSONDecodeError as exc:
        err.print(f"[bold red]error:[/] {alert.name} is not JSON: {exc.msg} at line {exc.lineno}", highlight=False)
        sys.exit(2)
    if not isinstance(payload, dict):
        err.print('[bold red]error:[/] expected a JSON object (an alert, or {"observables": [...]})')
        sys.exit(2)
    try:
        result = post_json(server, "/v1/enrich", payload, key) if server else _enrich_here(config, payload)
    except PositronError as exc:
        return _fail(exc)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(result["markdown"], nl=False)


def _enrich_here(config: Path | None, payload: dict[str, Any]) -> dict[str, Any]:
    """Enrich in-process, through the same guard as the API, as the config's ``cli`` principal."""
    from positron.workflows import enrich as enrichment

    broker = _local_broker(config)
    job = enrichment.parse_request(payload, broker.settings.workflows, broker.engine.catalog)
    caller = broker.guard.caller(broker.local_principal(), context=AuditContext(uuid.uuid4().hex, "cli"))
    return asyncio.run(_in_process(broker, lambda: enrichment.enrich(job, caller, broker.settings.workflows)))


@main.command()
def openapi() -> None:
    """Print the OpenAPI spec."""
    click.echo(json.dumps(build_openapi(), indent=2, sort_keys=True))


def build_openapi() -> dict[str, Any]:
    """The spec does not depend on config: it is built from the catalog."""
    from positron.api.app import create_app

    registry = Registry.from_entry_points()
    spec: dict[str, Any] = create_app(Broker(Settings(), registry)).openapi()
    return spec
