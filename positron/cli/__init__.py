"""The ``positron`` command (``commands``): serve, query, enrich, keys, check-config, openapi; ``remote`` posts to a
running server for the ``--server`` forms."""

from positron.cli.commands import main

__all__ = ["main"]
