"""The ``positron`` command: serve, query, enrich, keys, check-config, openapi."""

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
from rich.console import Console
from rich.table import Table

from positron.broker import AskOptions, AuditContext, Broker
from positron.cli.remote import post_json
from positron.config import Settings, get_environment, load_settings, parse_settings
from positron.demo import demo_config, new_demo_key
from positron.errors import PositronError
from positron.registry import Registry
from positron.security.audit import STDOUT

SERVER = click.option("--server", default=None, envvar="POSITRON_URL", help="Ask this server instead ($POSITRON_URL)")
KEY = click.option("--key", default=None, envvar="POSITRON_API_KEY", help="API key for --server ($POSITRON_API_KEY)")
out = Console()
err = Console(stderr=True)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
T = TypeVar("T")


def _settings(config: Path | None, registry: Registry) -> tuple[Settings, str | None]:
    """The given config, else $POSITRON_CONFIG, else the demo (with its key)."""
    path = config or get_environment().config
    if path is not None:
        return load_settings(path, registry), None
    key = get_environment().demo_key or new_demo_key()
    return parse_settings(demo_config(key), registry), key


def _fail(exc: PositronError) -> None:
    err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
    sys.exit(2)


@click.group()
@click.version_option(package_name="positron-broker")
def main() -> None:
    """Positron: one API over every source a SOC asks the same questions of."""


@main.command()
@click.option("--config", "config", type=click.Path(path_type=Path), help="Config file (default: the demo)")
@click.option("--host", default=None, help="Bind address (default from config; the demo binds 127.0.0.1 only)")
@click.option("--port", default=None, type=int, help="Port (default from config, 8080)")
def serve(config: Path | None, host: str | None, port: int | None) -> None:
    """Start the API server; with no config, the embedded offline demo."""
    import uvicorn

    from positron.api.app import create_app

    registry = Registry.from_entry_points()
    try:
        settings, demo_key = _settings(config, registry)
    except PositronError as exc:
        return _fail(exc)
    bind = host or settings.server.host
    if demo_key is not None and bind not in LOOPBACK:
        err.print("[bold red]error:[/] the demo binds 127.0.0.1 only; give --config to serve elsewhere")
        sys.exit(2)
    bind_port = port or settings.server.port
    try:
        broker = Broker(settings, registry)  # reads the keys file and the access policy
    except PositronError as exc:
        return _fail(exc)
    if demo_key is not None:
        _print_demo_banner(bind, bind_port, demo_key)
    # the client address comes from X-Forwarded-For only behind server.trusted_proxies (positron.api.middleware)
    uvicorn.run(create_app(broker), host=bind, port=bind_port, log_level="info", proxy_headers=False)


def _print_demo_banner(host: str, port: int, key: str) -> None:
    base = f"http://{host}:{port}"
    out.print(f"[bold]Positron demo[/] on {base}  (offline sample data; docs at {base}/docs)", highlight=False)
    out.print(f"API key: [bold]{key}[/]   (set POSITRON_DEMO_KEY to choose it)", highlight=False)
    out.print(
        f"try:  curl -s -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
        f'-d \'{{"value": "10.20.0.42"}}\' {base}/v1/queries/IP_TO_HOSTNAME',
        highlight=False,
        soft_wrap=True,
    )


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
@SERVER
@KEY
def enrich(alert: Any, config: Path | None, server: str | None, key: str | None) -> None:
    """Enrich a raw alert (JSON file, or - for stdin) and print the Markdown summary."""
    try:
        payload = json.load(alert)
    except json.JSONDecodeError as exc:
        err.print(f"[bold red]error:[/] {alert.name} is not JSON: {exc.msg} at line {exc.lineno}", highlight=False)
        sys.exit(2)
    if not isinstance(payload, dict):
        err.print("[bold red]error:[/] expected a JSON object (an alert, or {\"observables\": [...]})")
        sys.exit(2)
    try:
        result = post_json(server, "/v1/enrich", payload, key) if server else _enrich_here(config, payload)
    except PositronError as exc:
        return _fail(exc)
    click.echo(result["markdown"], nl=False)


def _enrich_here(config: Path | None, payload: dict[str, Any]) -> dict[str, Any]:
    """Enrich in-process, through the same guard as the API, as the config's ``cli`` principal."""
    from positron.workflows import enrich as enrichment

    broker = _local_broker(config)
    job = enrichment.parse_request(payload, broker.settings.workflows, broker.engine.catalog)
    caller = broker.guard.caller(broker.local_principal(), context=AuditContext(uuid.uuid4().hex, "cli"))
    return asyncio.run(_in_process(broker, lambda: enrichment.enrich(job, caller, broker.settings.workflows)))


@main.group()
def keys() -> None:
    """API keys: the key is printed once; only its hash is stored (config api_keys or security.keys_file)."""


@keys.command("create")
@click.option("--principal", required=True, help="Who the key is for (the name the access policy and audit see)")
@click.option("--groups", default="", help="Comma-separated groups, e.g. soc-analysts,incident-responders")
@click.option("--expires", default=None, help="90d, 12h, 30m from now, or an RFC 3339 time (default: never)")
def keys_create(principal: str, groups: str, expires: str | None) -> None:
    """Create an API key and print it with the line to store."""
    from positron.security.auth import create_key, new_key_text, parse_expiry

    try:
        when = parse_expiry(expires)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None
    click.echo(new_key_text(create_key(principal, [g.strip() for g in groups.split(",") if g.strip()], when)))


@main.command("check-config")
@click.argument("file", type=click.Path(path_type=Path))
def check_config(file: Path) -> None:
    """Validate a config file without serving."""
    registry = Registry.from_entry_points()
    try:
        settings = load_settings(file, registry)
        broker = Broker(settings, registry)
    except PositronError as exc:
        return _fail(exc)
    out.print(
        f"[green]ok[/] {file}: {broker.guard.key_count} API key(s), {len(settings.providers)} provider instance(s)"
    )
    for name, inst in broker.engine.instances.items():
        out.print(f"  {name} ({inst.provider.type_name}): {', '.join(inst.provider.serves()) or 'no queries'}")


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
