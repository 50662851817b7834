"""The request guard: who is calling (keys), what they may do (policy), where a value may go (egress, TLP), and
the audit line that records it. Every entry point that runs a query goes through ``Guard.run``, or through its two
parts ``authorize_query`` and ``instance_skips`` (batch and enrich use these around their own fan-out).

Keys and policy are one ``_State``, rebuilt whole on reload (SIGHUP or ``POST /v1/admin/reload``) and swapped in
one assignment: a request sees the old state or the new one, never a mix; a reload that fails keeps the old one.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from positron.catalog import canonical_name
from positron.chain import resolve
from positron.config import Settings, load_settings
from positron.errors import ConfigError, PermissionDenied, QueryError
from positron.inputs import InputKind
from positron.query import Query
from positron.security import redact
from positron.security.acl import ADMIN, NO_CACHE, RUN, USE, AccessControl, Decision
from positron.security.audit import AuditLog
from positron.security.auth import KeyEntry, KeyStore, Principal, hash_key, read_keys_file
from positron.security.egress import Tlp, classify, skip_reason
from positron.security.webhooks import HookStore, WebhookConfig

if TYPE_CHECKING:
    from positron.engine import Engine, ProviderStatus, QueryResult
    from positron.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _State:
    keys: KeyStore
    acl: AccessControl
    hooks: HookStore  # webhook tokens (positron.security.webhooks), reloaded with the keys


@dataclass(frozen=True, slots=True)
class GuardedResult:
    result: QueryResult
    masked: frozenset[str]  # answer fields this caller may not see; mask_body() blanks them


def _resolve(path: Path | None, settings: Settings) -> Path | None:
    if path is None or path.is_absolute() or settings.source is None:
        return path
    return settings.source.parent / path  # relative to the config file


def _config_keys(settings: Settings) -> list[KeyEntry]:
    return [
        KeyEntry(
            principal=k.principal,
            groups=tuple(k.groups),
            key_hash=k.key_hash or hash_key(k.key.get_secret_value() if k.key else ""),
            expires=k.expires,
        )
        for k in settings.api_keys
    ]


def load_state(settings: Settings) -> _State:
    sec = settings.security
    entries = _config_keys(settings)
    if (keys_file := _resolve(sec.keys_file, settings)) is not None:
        entries += read_keys_file(keys_file)
    acl = AccessControl.from_files(_resolve(sec.policy, settings), _resolve(sec.model, settings))
    return _State(KeyStore.of(entries), acl, HookStore.of(settings.webhooks))


class Guard:
    def __init__(self, settings: Settings, engine: Engine, registry: Registry | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self._registry = registry
        audit = settings.security.audit
        self.audit = AuditLog(audit.destination, hash_values=audit.hash_values, hash_key=audit.hash_key)
        redact.install(redact.secret_values(settings))
        self._state = load_state(settings)
        self.reloaded_at = datetime.now(UTC)

    # --- who and what ---

    def authenticate(self, token: str | None) -> Principal:
        return self._state.keys.authenticate(token)

    def authenticate_hook(self, token: str | None) -> WebhookConfig:
        """The webhook a URL token belongs to (hashed lookup, like API keys); else 401 saying only "invalid"."""
        return self._state.hooks.authenticate(token)

    @property
    def key_count(self) -> int:
        """API keys known now: config entries and keys-file lines."""
        return len(self._state.keys)

    def check(self, principal: Principal, obj: str, act: str) -> Decision:
        return self._state.acl.check(principal, obj, act)

    def authorize_query(self, principal: Principal, query_name: str) -> Decision:
        """May this principal run this query? Checked before any provider call or cache read."""
        return self.check(principal, canonical_name(query_name), RUN)

    def require(self, principal: Principal, obj: str, act: str, message: str) -> Decision:
        decision = self.check(principal, obj, act)
        if not decision:
            raise PermissionDenied(message)
        return decision

    def require_admin(self, principal: Principal, action: str) -> Decision:
        return self.require(principal, action, ADMIN, f"{action} needs the admin permission")

    def usable(self, principal: Principal, instance: str) -> bool:
        return self.check(principal, instance, USE).allowed

    def masked_fields(self, principal: Principal, query_name: str) -> frozenset[str]:
        return self._state.acl.masked_fields(principal, query_name)

    def instance_skips(
        self, principal: Principal, query: Query[Any], value: str, tlp: Tlp | None, kind: InputKind | None = None
    ) -> dict[str, str]:
        """Instance → why it must not be asked: ``denied`` by policy, or an egress/TLP rule. ``value`` is normalized
        (of ``kind``, default the query's input kind)."""
        value_class = classify(kind or query.input, value, self.settings.security.internal_domains)
        tlp = tlp or self.settings.security.default_tlp
        skips: dict[str, str] = {}
        for inst in self.engine.answering(query):
            cfg = inst.provider.config
            if not self.usable(principal, inst.name):
                skips[inst.name] = "denied"
            elif reason := skip_reason(cfg.egress, cfg.max_tlp, cfg.allow_internal, value_class, tlp):
                skips[inst.name] = reason
        return skips

    def _chain_skips(
        self, principal: Principal, query: Query[Any], value: str, tlp: Tlp | None, skips: dict[str, str]
    ) -> bool:
        """Whether ``query`` may be answered through its chain (``chain.py``): only if the caller may run every
        step. Adds to ``skips`` the instances the caller may not use for a step (judged on the original value)."""
        steps = resolve(query, self.engine.catalog)
        if not steps or not all(self.authorize_query(principal, step.name) for step in steps):
            return False
        for step in steps:
            for name, reason in self.instance_skips(principal, step, value, tlp, kind=query.input).items():
                skips.setdefault(name, reason)
        return True

    # --- one guarded query ---

    async def run(
        self,
        principal: Principal,
        query: Query[Any] | str,
        raw_value: str,
        at: datetime | None = None,
        *,
        providers: Sequence[str] | None = None,
        no_cache: bool = False,
        tlp: Tlp | None = None,
        request_id: str = "-",
    ) -> GuardedResult:
        """Authorize, normalize, apply egress, run, and write the audit line (also when anything fails)."""
        started = time.monotonic()
        record: dict[str, Any] = {"request_id": request_id, "principal": principal.name, "groups": principal.groups}
        record["query"] = query.name if isinstance(query, Query) else canonical_name(query)[:64]
        value, outcome = raw_value, None
        try:
            q = query if isinstance(query, Query) else self.engine.catalog.get_query(query)
            decision = self.authorize_query(principal, q.name)
            record.update(decision="allowed" if decision else "denied", rule=decision.rule)
            if not decision:
                raise PermissionDenied(f"you may not run {q.name}")
            if no_cache:
                self.require(principal, q.name, NO_CACHE, f"no_cache is not permitted for you on {q.name}")
            lookup = self.engine.lookup(q, raw_value, at)
            value = lookup.value
            skips = self.instance_skips(principal, q, lookup.value, tlp)
            chain = self._chain_skips(principal, q, lookup.value, tlp, skips)
            result = await self.engine.run(
                q, lookup.value, lookup.at, providers=providers, no_cache=no_cache, skip=skips, chain=chain
            )
            outcome = GuardedResult(result, self.masked_fields(principal, q.name))
            record.update(status=200, **_provider_fields(result.providers))
            return outcome
        except QueryError as exc:
            record.update(status=exc.status_code, error=exc.code)
            raise
        finally:
            record.setdefault("status", 500)
            record["took_ms"] = round((time.monotonic() - started) * 1000, 1)
            self.audit.write("query", {**record, **self.audit.value_fields(value)})

    # --- reload ---

    def reload(self) -> dict[str, Any]:
        """Re-read the API keys (config file and keys file) and the policy; keep the old ones on any error."""
        settings = self.settings
        if settings.source is not None and self._registry is not None:
            settings = load_settings(settings.source, self._registry)
        state = load_state(settings)
        redact.install(redact.secret_values(settings))
        self._state = state
        self.reloaded_at = datetime.now(UTC)
        return {
            "keys": len(state.keys),
            "webhooks": len(state.hooks),
            "policy": state.acl.policy.source,
            "rules": state.acl.rule_count,
            "reloaded_at": self.reloaded_at.isoformat().replace("+00:00", "Z"),
        }

    def _reload_on_signal(self) -> None:
        try:
            report = self.reload()
        except ConfigError as exc:
            log.error("reload failed; keeping the previous keys and policy: %s", exc.message)
            return
        log.info("reloaded: %s API key(s), policy %s (%s rules)", report["keys"], report["policy"], report["rules"])

    def watch_sighup(self) -> Callable[[], None]:
        """Reload on SIGHUP (main thread, POSIX); returns the function that stops watching."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self._reload_on_signal)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            return lambda: None

        def unwatch() -> None:
            loop.remove_signal_handler(signal.SIGHUP)

        return unwatch


def _provider_fields(statuses: Sequence[ProviderStatus]) -> dict[str, Any]:
    providers = []
    for s in statuses:
        entry: dict[str, Any] = {"name": s.name, "status": s.status, "cached": s.cached}
        if s.status == "skipped":
            entry["reason"] = s.error
        elif s.error_code:
            entry["error_code"] = s.error_code
        providers.append(entry)
    return {"providers": providers, "cache_hits": sum(1 for s in statuses if s.cached)}


def mask_body(body: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """Blank the masked fields in every answer and source value of a response body (in place), and say which."""
    if not fields:
        return body
    for answer in body.get("answers", []):
        _blank(answer, fields)
    if body.get("answer"):
        _blank(body["answer"], fields)
    body["details"] = {**body.get("details", {}), "masked": sorted(fields)}
    return body


def _blank(answer: dict[str, Any], fields: frozenset[str]) -> None:
    for holder in (answer, *answer.get("sources", [])):
        value = holder.get("value")
        if isinstance(value, dict):
            holder["value"] = {k: (None if k in fields else v) for k, v in value.items()}
