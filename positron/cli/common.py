"""What the CLI's commands share: the consoles, the settings a command runs with, and how an error ends it.

Errors end a command with exit status 2 and one message naming what is wrong (a config key, a file), never a
traceback and never a secret. The consoles do not wrap: a message piped into a log or a CI step stays one line.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from positron.config import Settings, get_environment, load_settings, parse_settings
from positron.demo import demo_config, new_demo_key
from positron.errors import ConfigError, PositronError
from positron.registry import Registry

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

CONFIG = click.option(
    "--config", "config", type=click.Path(path_type=Path), help="Config file (default: $POSITRON_CONFIG, else the demo)"
)
SERVER = click.option("--server", default=None, envvar="POSITRON_URL", help="Ask this server instead ($POSITRON_URL)")
KEY = click.option("--key", default=None, envvar="POSITRON_API_KEY", help="API key for --server ($POSITRON_API_KEY)")


def settings_for(config: Path | None, registry: Registry) -> tuple[Settings, str | None]:
    """The given config, else $POSITRON_CONFIG, else the demo (with its key)."""
    path = config or get_environment().config
    if path is not None:
        return load_settings(path, registry), None
    key = get_environment().demo_key or new_demo_key()
    return parse_settings(demo_config(key), registry), key


def fail(exc: PositronError) -> NoReturn:
    """Print the error (each problem on its own line) and exit 2."""
    if isinstance(exc, ConfigError) and len(exc.problems) > 1:
        err.print(f"[bold red]error:[/] {len(exc.problems)} problems in the config:", highlight=False)
        for problem in exc.problems:
            err.print(f"  {problem}", highlight=False, markup=False)
    else:
        err.print("[bold red]error:[/] ", end="", highlight=False)
        err.print(exc.message, highlight=False, markup=False)
    sys.exit(2)


def fail_unexpected(what: str, exc: Exception) -> NoReturn:
    """An error we did not foresee while reading the config: its type only (its text may hold a secret)."""
    err.print(f"[bold red]error:[/] {what} failed: {type(exc).__name__} (no details shown: they may hold a secret)")
    sys.exit(2)


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
    """A table on a terminal; tab-separated lines with a header otherwise (nothing cut at 80 columns, easy to
    ``cut``/``awk`` in a script)."""
    if out.is_terminal:
        table = Table(*columns, title=title)
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        out.print(table)
        return
    for row in [columns, *rows]:
        out.print("\t".join(row), highlight=False, markup=False)


def warn(message: str) -> None:
    err.print("[yellow]warning:[/] ", end="", highlight=False)
    err.print(message, highlight=False, markup=False)
