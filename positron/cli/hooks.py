"""``positron hooks create``: a webhook token for a sender that cannot set headers (Splunk's webhook alert action).

Prints the URL to paste into Splunk (the token is in it, shown once) and the config entry holding only its hash.
"""

from __future__ import annotations

import re

import click

from positron.security.auth import parse_expiry
from positron.security.webhooks import NAME_PATTERN, create_hook, new_hook_text


@click.group()
def hooks() -> None:
    """Webhook tokens: a secret in the URL path, scoped to enrich, stored hashed (config webhooks)."""


@hooks.command("create")
@click.option("--name", required=True, help="The webhook's name, e.g. splunk-malware (logs and audit show it)")
@click.option("--principal", required=True, help="Who it acts as: the name the access policy and audit see")
@click.option("--groups", default="", help="Comma-separated groups, e.g. soc-analysts")
@click.option("--expires", default=None, help="90d, 12h, 30m from now, or an RFC 3339 time (default: never)")
@click.option(
    "--url",
    "base_url",
    default="https://positron.corp.example",
    show_default=True,
    envvar="POSITRON_URL",
    help="Positron's address as Splunk reaches it ($POSITRON_URL)",
)
def hooks_create(name: str, principal: str, groups: str, expires: str | None, base_url: str) -> None:
    """Create a webhook token; print the URL for Splunk and the entry for the config's webhooks list."""
    if not re.match(NAME_PATTERN, name):
        expected = "letters, digits, '_', '.' and '-', at most 64, e.g. splunk-malware"
        raise click.BadParameter(expected, param_hint="--name")
    try:
        when = parse_expiry(expires)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None
    if not base_url.startswith(("http://", "https://")):
        raise click.BadParameter(f"expected an http(s) URL; got {base_url!r}", param_hint="--url")
    new = create_hook(name, principal, [g.strip() for g in groups.split(",") if g.strip()], when)
    click.echo(new_hook_text(new, base_url))
