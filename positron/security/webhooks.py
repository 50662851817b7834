"""Webhook tokens: a per-webhook secret in the URL path, for senders that cannot set a header.

Splunk's webhook alert action POSTs the alert to a URL and nothing else: no ``Authorization`` header. So each
webhook gets its own token, carried in the path (``POST /v1/hooks/<token>/enrich``), and stored like an API key:
only ``sha256:<hex>`` of it, in the config's ``webhooks`` list (``positron hooks create`` prints the entry and the
URL to paste into Splunk)::

    webhooks:
      - name: splunk-malware            # what the audit log and the server's logs call it
        principal: splunk               # the caller the access policy sees; the groups give it its rights
        groups: [soc-analysts]
        token_hash: "sha256:…"
        expires: 2027-06-01T00:00:00Z   # optional
        callback: {url: {env: TICKET_HOOK_URL}, secret: {env: TICKET_HOOK_SECRET}}   # optional, see delivery

A token can do one thing: enrich an alert, as its principal, through the guard (ACL, egress/TLP, masking, audit) —
never a query, a batch or an admin action, and an API key is never accepted in its place. Revoke it by deleting the
entry and reloading (SIGHUP or ``POST /v1/admin/reload``).

A secret in a URL ends up in logs unless it is taken out early: ``hide_token`` is applied by the outermost
middleware, which moves the token from the request's path into the request state before anything else sees the
path, so access logs, audit lines, error messages and metrics labels only ever see ``/v1/hooks/redacted/enrich``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from positron.errors import AuthenticationFailed, ConfigError
from positron.security.auth import HASH_PATTERN, Principal, find_by_secret, hash_key
from positron.security.egress import Tlp
from positron.security.secrets import Secret

TOKEN_PREFIX = "pwh_"
TOKEN_BYTES = 32
PATH_PREFIX = "/v1/hooks/"
HIDDEN = "redacted"  # what the path says instead of the token
INVALID = "invalid webhook token"  # whatever the reason: unknown, revoked or expired
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_HOOK_PATH = re.compile(r"^/v1/hooks/([^/]*)(/.*)?$")
MAX_TOKEN_LENGTH = 256


class CallbackConfig(BaseModel):
    """Where the enrichment's Markdown goes after the webhook answered (see ``positron.workflows.delivery``)."""

    model_config = ConfigDict(extra="forbid")

    url: Secret = Field(description="http(s) URL; a secret, as chat and ticket hook URLs carry their own tokens")
    auth: Literal["hmac", "bearer", "none"] = Field(
        default="hmac", description="hmac: X-Positron-Signature over the body; bearer: Authorization: Bearer <secret>"
    )
    secret: Secret | None = Field(default=None, description="The HMAC key or bearer token, e.g. {env: NAME}")
    format: Literal["json", "markdown"] = Field(
        default="json", description="json: {webhook, title, sid, results_link, at, markdown}; markdown: the text"
    )
    timeout_s: float = Field(default=5.0, gt=0, le=30, description="Per attempt")
    attempts: int = Field(default=3, ge=1, le=5, description="Tries in all; only failures worth retrying retry")
    backoff_s: float = Field(default=1.0, ge=0, le=10, description="Wait before the 2nd try; doubles each time")

    @model_validator(mode="after")
    def _check(self) -> CallbackConfig:
        parts = urlsplit(self.url.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url: expected an http:// or https:// URL")  # never echo it: it may hold a token
        if self.auth != "none" and self.secret is None:
            raise ValueError(f"secret: needed for auth {self.auth!r} (or set auth: none)")
        return self


class WebhookConfig(BaseModel):
    """One webhook: its name, whose rights it carries, its token's hash, and an optional callback."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Letters, digits, _ . - (in logs and audit lines)")
    principal: str = Field(min_length=1, max_length=128)
    groups: list[str] = Field(default_factory=list)
    token_hash: str = Field(pattern=HASH_PATTERN, description="sha256:<hex> of the token")
    expires: AwareDatetime | None = None
    queries: list[str] | None = Field(default=None, description="Only these queries (default: every applicable one)")
    tlp: Tlp | None = Field(default=None, description="TLP of what this webhook sends (default security.default_tlp)")
    callback: CallbackConfig | None = None

    @property
    def as_principal(self) -> Principal:
        return Principal(self.principal, tuple(self.groups))


@dataclass(slots=True)
class HookStore:
    """The known webhooks by token hash. Built whole and swapped on reload, like the API keys."""

    _by_hash: dict[str, WebhookConfig] = field(default_factory=dict)

    @classmethod
    def of(cls, hooks: Iterable[WebhookConfig]) -> HookStore:
        store, names = cls(), set()
        for i, hook in enumerate(hooks):
            if hook.name in names:
                raise ConfigError(f"two webhooks are named {hook.name!r}", key=f"webhooks.{i}.name")
            if hook.token_hash in store._by_hash:
                raise ConfigError("two webhooks have the same token", key=f"webhooks.{i}.token_hash")
            names.add(hook.name)
            store._by_hash[hook.token_hash] = hook
        return store

    def __len__(self) -> int:
        return len(self._by_hash)

    def authenticate(self, token: str | None, now: datetime | None = None) -> WebhookConfig:
        """The webhook a valid, unexpired token belongs to; else AuthenticationFailed saying only "invalid"."""
        if not token or len(token) > MAX_TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
            raise AuthenticationFailed(INVALID)
        return find_by_secret(self._by_hash, token, INVALID, now)


def hide_token(path: str) -> tuple[str, str | None]:
    """``/v1/hooks/<token>/enrich`` → (``/v1/hooks/redacted/enrich``, token); any other path is unchanged."""
    match = _HOOK_PATH.match(path)
    if match is None:
        return path, None
    return f"{PATH_PREFIX}{HIDDEN}{match[2] or ''}", match[1]


@dataclass(frozen=True, slots=True)
class NewHook:
    token: str
    entry: dict[str, Any]


def create_hook(name: str, principal: str, groups: Iterable[str] = (), expires: datetime | None = None) -> NewHook:
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    entry: dict[str, Any] = {"name": name, "principal": principal, "groups": list(groups)}
    entry["token_hash"] = hash_key(token)
    if expires is not None:
        entry["expires"] = expires.astimezone(UTC).isoformat().replace("+00:00", "Z")
    WebhookConfig.model_validate(entry)  # what we print must load
    return NewHook(token, entry)


def new_hook_text(new: NewHook, base_url: str) -> str:
    """What ``positron hooks create`` prints: the URL (the token, shown once) and the config entry to store."""
    url = f"{base_url.rstrip('/')}{PATH_PREFIX}{new.token}/enrich"
    entry = yaml.safe_dump([new.entry], sort_keys=False, default_flow_style=None).rstrip("\n")
    return "\n".join(
        [
            f"Webhook {new.entry['name']} for principal {new.entry['principal']}.",
            "",
            "Paste this URL into Splunk (alert → Add Actions → Webhook); it holds the token, shown once, kept nowhere:",
            url,
            "",
            "Add this entry under webhooks: in the config file, then reload (kill -HUP or POST /v1/admin/reload):",
            *("  " + line for line in entry.splitlines()),
        ]
    )
