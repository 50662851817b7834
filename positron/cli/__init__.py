"""The ``positron`` command. ``commands`` holds the group (query, enrich, openapi) and registers the rest, each in
its own module: ``serve``, ``check`` (check-config), ``keys``, ``hooks`` (webhook tokens), ``batch``, ``info``
(queries, providers); ``remote`` posts to a running server for the ``--server`` forms, ``local`` runs lookups in
this process.

``main`` is the console script: ``positron --version`` answers from the package metadata without importing the
server (pydantic, FastAPI, the providers), so it is instant; everything else loads the full command group.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from importlib.metadata import version

        sys.stdout.write(f"positron, version {version('positron-broker')}\n")
        return
    from positron.cli.commands import main as group

    group()


__all__ = ["main"]
