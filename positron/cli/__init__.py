"""The ``positron`` command (``commands``): serve, query, enrich, keys, check-config, openapi; ``hooks`` creates
webhook tokens; ``remote`` posts to a running server for the ``--server`` forms."""

from positron.cli.commands import main
from positron.cli.hooks import hooks

main.add_command(hooks)

__all__ = ["main"]
