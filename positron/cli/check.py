"""``positron check-config FILE [--connect]``: every problem a config has, in one run.

Offline (always): the YAML and every setting (all errors at once, each naming its key), secrets resolve and are
not placeholders, the keys file and access policy load, every file a provider instance names exists and is not
empty, and instances that only read local files (a ``Path`` setting and no credentials: static_inventory,
dhcp_leases) are opened, so a file that does not parse is reported too. Warnings (a secret file others may read,
an API key without groups) do not fail the check.

``--connect`` then opens every enabled instance and runs its health check, each under a timeout, and reports per
instance: ``ok``, ``auth failed``, ``no permission``, ``unreachable`` or ``failed``, with what to fix. The kind is
read from the provider's own error message (providers say "refused the API key", "HTTP 403", "cannot reach ...").
Exit status: 0 all good, 1 an instance failed to connect, 2 the config has problems.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel, SecretStr
from rich.markup import escape
from rich.table import Table

from positron.cli.common import err, fail, fail_unexpected, out, warn
from positron.cli.keys import key_warnings
from positron.config import Settings, load_settings
from positron.errors import ConfigError, PositronError, ProviderError
from positron.provider import Health, Provider, ProviderConfig
from positron.registry import Registry

# (words in the provider's message, result, what to do), first match wins: "lacks access" before "API key"
KINDS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        ("permission", "access denied", "lacks access", "insufficient", "http 403", "forbidden"),
        "no permission",
        "the credentials work but may not do this: grant the account read access (docs/providers/{type}.md)",
    ),
    (
        ("credential", "authentication", "api key", "bind failed", "http 401", "rejected", "unauthorized"),
        "auth failed",
        "check the secret the config refers to (its env variable or file) and that the account is enabled",
    ),
    (
        (
            "cannot reach",
            "cannot connect",
            "did not answer",
            "no answer",
            "no reply",
            "timed out",
            "took longer",
            "nameserver",
            "tls",
            "certificate",
            "refused",
            "unreachable",
            "connection",
        ),
        "unreachable",
        "check the address and port, DNS, firewalls and proxies on the way, and the TLS settings (ca_file, verify)",
    ),
)


@click.command("check-config")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--connect", is_flag=True, help="Also open every provider instance and report whether it answers")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds for each instance to open and answer")
def check_config(file: Path, connect: bool, timeout: float) -> None:
    """Validate a config file without serving: every problem at once; --connect also tries every source."""
    from positron.broker import Broker

    registry = Registry.from_entry_points()
    try:
        settings = load_settings(file, registry)
    except PositronError as exc:
        fail(exc)
    except Exception as exc:  # noqa: BLE001 (never a traceback: it could print a secret)
        fail_unexpected("reading the config", exc)
    problems = file_problems(settings)
    broker = None
    try:
        broker = Broker(settings, registry)  # the keys file and the access policy
    except ConfigError as exc:
        problems += exc.problems
    except Exception as exc:  # noqa: BLE001
        fail_unexpected("loading keys and policy", exc)
    if broker is not None and not problems:
        problems += asyncio.run(_open_local(broker.engine.instances, timeout))
    for warning in [*settings.warnings, *key_warnings(settings)]:
        warn(warning)
    if problems:
        fail(ConfigError.of([ConfigError(p) for p in problems]))
    assert broker is not None
    out.print(
        f"[green]ok[/] {file}: {broker.guard.key_count} API key(s), {len(settings.providers)} provider instance(s)",
        highlight=False,
    )
    for name, inst in broker.engine.instances.items():
        out.print(f"  {name} ({inst.provider.type_name}): {', '.join(inst.provider.serves()) or 'no queries'}")
    if connect:
        results = asyncio.run(_connect_all(broker.engine.instances, timeout))
        _print_connect(results)
        if any(result != "ok" for _, _, result, _, _ in results):
            sys.exit(1)


def file_problems(settings: Settings) -> list[str]:
    """Every file an enabled provider instance names that is missing, not a file, or empty."""
    found = []
    for name, config in settings.providers.items():
        if not config.enabled:
            continue
        for where, path in _paths(config, f"providers.{name}"):
            if not path.exists():
                found.append(f"{where}: file {path} does not exist")
            elif not path.is_file():
                found.append(f"{where}: {path} is not a file")
            elif path.stat().st_size == 0:
                found.append(f"{where}: file {path} is empty")
    return found


def _paths(value: Any, where: str) -> list[tuple[str, Path]]:
    if isinstance(value, Path):
        return [(where, value)]
    if isinstance(value, BaseModel):
        return [p for n in type(value).model_fields for p in _paths(getattr(value, n), f"{where}.{n}")]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths(v, f"{where}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in _paths(v, f"{where}.{i}")]
    return []


def _has(value: Any, kind: type) -> bool:
    if isinstance(value, kind):
        return True
    if isinstance(value, BaseModel):
        return any(_has(getattr(value, n), kind) for n in type(value).model_fields)
    if isinstance(value, dict):
        return any(_has(v, kind) for v in value.values())
    return isinstance(value, list | tuple) and any(_has(v, kind) for v in value)


def is_local(config: ProviderConfig) -> bool:
    """Reads only local files: it names a file and holds no credentials (so opening it talks to no one)."""
    return _has(config, Path) and not _has(config, SecretStr)


async def _try(provider: Provider[Any], timeout: float) -> Health:
    """Open, check health, close; every failure becomes an unhealthy Health with the provider's message."""
    try:
        async with asyncio.timeout(timeout):
            await provider.open()
            return await provider.health()
    except TimeoutError:
        return Health(False, f"did not answer within {timeout:g} s")
    except ProviderError as exc:
        return Health(False, exc.message)
    except Exception as exc:  # noqa: BLE001 (a provider bug: its type only)
        return Health(False, f"failed to open ({type(exc).__name__})")
    finally:
        try:
            await provider.aclose()
        except Exception:  # noqa: BLE001, S110 (closing after a failure may fail too)
            pass


async def _open_local(instances: dict[str, Any], timeout: float) -> list[str]:
    local = {name: inst.provider for name, inst in instances.items() if is_local(inst.provider.config)}
    healths = await asyncio.gather(*(_try(p, timeout) for p in local.values()))
    return [f"providers.{name}: {h.detail}" for name, h in zip(local, healths, strict=True) if not h.ok]


def classify(health: Health, provider_type: str) -> tuple[str, str]:
    """(result, what to fix) for a health check's outcome."""
    if health.ok:
        return "ok", ""
    detail = health.detail.casefold()
    for words, result, fix in KINDS:
        if any(word in detail for word in words):
            return result, fix.format(type=provider_type)
    return "failed", f"see the message; docs/providers/{provider_type}.md"


async def _connect_all(instances: dict[str, Any], timeout: float) -> list[tuple[str, str, str, str, str]]:
    names = list(instances)
    healths = await asyncio.gather(*(_try(instances[n].provider, timeout) for n in names))
    rows = []
    for name, health in zip(names, healths, strict=True):
        type_name = instances[name].provider.type_name
        result, fix = classify(health, type_name)
        rows.append((name, type_name, result, health.detail, fix))
    return rows


def _print_connect(rows: list[tuple[str, str, str, str, str]]) -> None:
    table = Table("instance", "type", "result", "detail", "fix", title="connect")
    for name, type_name, result, detail, fix in rows:
        colour = "green" if result == "ok" else "red"
        table.add_row(escape(name), type_name, f"[{colour}]{result}[/]", escape(detail), escape(fix))
    if out.is_terminal:
        out.print(table)
    else:  # one line an instance: easy to grep in CI logs
        for name, type_name, result, detail, fix in rows:
            line = f"{name} ({type_name}): {result}: {detail}" + (f" — {fix}" if fix else "")
            out.print(line, highlight=False, markup=False)
    failed = sum(1 for row in rows if row[2] != "ok")
    if failed:
        err.print(f"{failed} of {len(rows)} instance(s) did not connect", highlight=False)
