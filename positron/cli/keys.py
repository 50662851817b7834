"""``positron keys create | list | revoke``: API keys are shown once and stored only as hashes.

Keys live in the config (``api_keys``) or in the keys file (``security.keys_file``, one JSON object a line).
``list`` shows both (principal, groups, expiry and the start of the hash; never a key). ``revoke`` deletes
keys-file lines by hash prefix or principal, rewriting the file atomically; a key in the config file is named
with its key so it can be deleted by hand (the CLI never rewrites a YAML file it did not write). A running
server sees the change on reload (``kill -HUP`` or ``POST /v1/admin/reload``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import click

from positron.cli.common import CONFIG, err, fail, out, print_rows, settings_for, warn
from positron.config import Settings
from positron.errors import PositronError
from positron.registry import Registry
from positron.security.auth import KeyEntry, create_key, hash_key, new_key_text, parse_expiry, read_keys_file

RELOAD = "a running server sees it after a reload: kill -HUP <pid> or POST /v1/admin/reload"
HASH_SHOWN = 16  # "sha256:" and 9 hex digits: enough to tell keys apart, useless to anyone else


@click.group()
def keys() -> None:
    """API keys: the key is printed once; only its hash is stored (config api_keys or security.keys_file)."""


@keys.command("create")
@click.option("--principal", required=True, help="Who the key is for (the name the access policy and audit see)")
@click.option("--groups", default="", help="Comma-separated groups, e.g. soc-analysts,incident-responders")
@click.option("--expires", default=None, help="90d, 12h, 30m from now, or an RFC 3339 time (default: never)")
def keys_create(principal: str, groups: str, expires: str | None) -> None:
    """Create an API key and print it with the line to store."""
    try:
        when = parse_expiry(expires)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None
    group_list = [g.strip() for g in groups.split(",") if g.strip()]
    if not group_list:
        warn(f"{principal}'s key has no groups: under the default-deny policy it may do nothing (give --groups)")
    click.echo(new_key_text(create_key(principal, group_list, when)))


def stored_keys(settings: Settings) -> list[tuple[str, KeyEntry]]:
    """(where, entry) for every key: ``api_keys.N`` in the config, ``FILE:LINE`` in the keys file."""
    found = []
    for i, api_key in enumerate(settings.api_keys):
        digest = api_key.key_hash or hash_key(api_key.key.get_secret_value() if api_key.key else "")
        entry = KeyEntry(
            principal=api_key.principal, groups=tuple(api_key.groups), key_hash=digest, expires=api_key.expires
        )
        found.append((f"api_keys.{i}", entry))
    path = settings.security.keys_file
    if path is not None and path.exists():
        numbered = [
            n
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
        found += [(f"{path}:{n}", entry) for n, entry in zip(numbered, read_keys_file(path), strict=True)]
    return found


def key_warnings(settings: Settings) -> list[str]:
    """A key without groups can do nothing under the default-deny policy: worth saying, not an error."""
    try:
        stored = stored_keys(settings)
    except PositronError:
        return []  # the keys file's own error is reported elsewhere
    return [
        f"{where}: the key of {entry.principal} has no groups; under the default-deny policy it may do nothing"
        for where, entry in stored
        if not entry.groups
    ]


@keys.command("list")
@CONFIG
def keys_list(config: Path | None) -> None:
    """The stored keys: principal, groups, expiry, the start of the hash and where each is kept."""
    try:
        stored = stored_keys(settings_for(config, Registry.from_entry_points())[0])
    except PositronError as exc:
        fail(exc)
    now = datetime.now(UTC)
    rows = []
    for where, entry in stored:
        expires = "never" if entry.expires is None else entry.expires.isoformat().replace("+00:00", "Z")
        if entry.expires is not None and entry.expires <= now:
            expires += " (expired)"
        rows.append((entry.principal, ", ".join(entry.groups) or "(none)", expires, entry.key_hash[:HASH_SHOWN], where))
    print_rows(("principal", "groups", "expires", "hash", "stored in"), rows, title=f"{len(stored)} API key(s)")
    for where, entry in stored:
        if not entry.groups:
            warn(f"{where}: the key of {entry.principal} has no groups; it may do nothing")


@keys.command("revoke")
@CONFIG
@click.argument("hash_prefix", required=False)
@click.option("--principal", default=None, help="Revoke every key of this principal")
def keys_revoke(config: Path | None, hash_prefix: str | None, principal: str | None) -> None:
    """Delete keys from the keys file by the start of their hash (as `keys list` shows it) or by principal."""
    if (hash_prefix is None) == (principal is None):
        raise click.UsageError("give a hash prefix (from `positron keys list`) or --principal, not both")
    try:
        settings = settings_for(config, Registry.from_entry_points())[0]
        stored = stored_keys(settings)
    except PositronError as exc:
        fail(exc)
    prefix = hash_prefix if hash_prefix is None or hash_prefix.startswith("sha256:") else f"sha256:{hash_prefix}"

    def matches(entry: KeyEntry) -> bool:
        return entry.principal == principal if principal is not None else entry.key_hash.startswith(str(prefix))

    hits = [(where, entry) for where, entry in stored if matches(entry)]
    if not hits:
        err.print("[bold red]error:[/] no stored key matches", highlight=False)
        sys.exit(2)
    in_config = [where for where, _ in hits if where.startswith("api_keys.")]
    keys_file = settings.security.keys_file
    removed = _rewrite_without(keys_file, {e.key_hash for w, e in hits if not w.startswith("api_keys.")})
    for where, entry in hits:
        if not where.startswith("api_keys."):
            out.print(f"revoked {entry.principal}'s key {entry.key_hash[:HASH_SHOWN]} ({where})", highlight=False)
    if removed:
        out.print(RELOAD, highlight=False)
    for where in in_config:
        source = settings.source or "the config file"
        warn(f"{where} is in {source}: delete that entry by hand, then reload")
    if in_config:
        sys.exit(1)


def _rewrite_without(path: Path | None, hashes: set[str]) -> int:
    """Drop the keys-file lines holding these hashes; the file is replaced atomically (same mode)."""
    if path is None or not hashes:
        return 0
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not any(h in line for h in hashes)]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(kept)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(lines) - len(kept)
