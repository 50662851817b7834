"""The request guard: who is calling (keys), what they may do (policy), where a value may go (egress, TLP), and
the audit line that records it.

Every surface that runs a query (a single HTTP query, each batch item, each enrich query, ``positron query`` and
``positron enrich``) calls ``Guard.ask`` (through ``Broker.ask``), the one guarded entry point:

    ask = prepare  (resolve the query, authorize run and no_cache, build the one ``Lookup``, egress/TLP skips)
        + execute  (run the engine, mask the typed result, add a hint when no instance answers the query)

and exactly one audit line is written per ask, whatever happens. Batches call the two halves themselves so that
identical items are prepared each (and refused alone) but executed once. A surface only parses its input and
serializes the typed ``QueryResult`` (``positron.results``).

Keys and policy are one ``_State``, rebuilt whole on reload (SIGHUP or ``POST /v1/admin/reload``) and swapped in
one assignment: a request sees the old state or the new one, never a mix; a reload that fails keeps the old one.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from positron.catalog import canonical_name
from positron.chain import resolve
from positron.config import Settings, load_settings
from positron.errors import ConfigError, PermissionDenied, QueryError
from positron.inputs import InputKind
from positron.query import Lookup, Query
from positron.security import masking, redact
from positron.security.acl import ADMIN, NO_CACHE, RUN, USE, AccessControl, Decision
from positron.security.audit import AuditContext, AuditLog, AuditRecord
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
class AskOptions:
    """How to ask, beside what: only these instances, bypass the cache, the value's TLP."""

    providers: Sequence[str] | None = None
    no_cache: bool = False
    tlp: Tlp | None = None


ASK = AskOptions()


@dataclass(frozen=True, slots=True)
class Prepared:
    """A lookup the guard has authorized and normalized, ready to execute."""

    principal: Principal
    lookup: Lookup
    options: AskOptions
    skips: dict[str, str]
    masked: frozenset[str]
    rule: str
    context: AuditContext
    chain: bool = False  # may also be answered through its ``via`` queries (the caller may run every step)
    started: float = field(default_factory=time.monotonic)


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


@dataclass(frozen=True, slots=True)
class Caller:
    """One principal's lookups within one request (a batch, an enrichment, a CLI run): the guard's two halves
    bound to who asks, how, and the request's audit context."""

    guard: Guard
    principal: Principal
    options: AskOptions
    context: AuditContext

    def may_run(self, query_name: str) -> bool:
        return self.guard.authorize_query(self.principal, query_name).allowed

    def prepare(self, query: Query[Any] | str, raw_value: str, at: datetime | None) -> Prepared:
        return self.guard.prepare(self.principal, query, raw_value, at, self.options, self.context)

    async def execute(self, prepared: Prepared) -> QueryResult:
        return await self.guard.execute(prepared)


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

    def authorize_run(
        self, principal: Principal, query: Query[Any], context: AuditContext, raw_value: str | None = None
    ) -> Decision:
        """The run permission alone, for a surface that decides before it validates the input (403 before 422).
        A refusal is audited here; ``ask`` decides again (cached) and audits the lookup itself."""
        decision = self.authorize_query(principal, query.name)
        context.query, context.decision = query.name, decision
        if not decision:
            record = AuditRecord("query", context, 403, "denied", rule=decision.rule, query=query.name, value=raw_value)
            record.error = PermissionDenied.code
            self.audit.write(record)
            raise PermissionDenied(f"you may not run {query.name}")
        return decision

    def authorize_admin(self, principal: Principal, action: str, context: AuditContext) -> Decision:
        """The admin permission on ``action``; a refusal is audited here and raised as a 403."""
        decision = self.check(principal, action, ADMIN)
        if not decision:
            self.audit_admin(context, action, 403, decision)
            raise PermissionDenied(f"{action} needs the admin permission")
        return decision

    def audit_admin(self, context: AuditContext, action: str, status: int, decision: Decision) -> None:
        verdict = "allowed" if decision else "denied"
        self.audit.write(AuditRecord("admin", context, status, verdict, rule=decision.rule, action=action))

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

    # --- the one guarded entry point ---

    async def ask(
        self,
        principal: Principal,
        query: Query[Any] | str,
        raw_value: str,
        at: datetime | None = None,
        options: AskOptions = ASK,
        context: AuditContext | None = None,
    ) -> QueryResult:
        """Authorize, normalize, apply egress, run, mask; one audit line (also when anything fails)."""
        return await self.execute(self.prepare(principal, query, raw_value, at, options, context))

    def caller(self, principal: Principal, options: AskOptions = ASK, context: AuditContext | None = None) -> Caller:
        return Caller(self, principal, options, context or AuditContext())

    def prepare(
        self,
        principal: Principal,
        query: Query[Any] | str,
        raw_value: str,
        at: datetime | None = None,
        options: AskOptions = ASK,
        context: AuditContext | None = None,
    ) -> Prepared:
        """Everything before the engine; a refusal (404, 403, 422) is audited here."""
        context = context or AuditContext()
        if context.principal is None:
            context.principal = principal
        started = time.monotonic()
        name = query.name if isinstance(query, Query) else canonical_name(query)[:64]
        record = AuditRecord("query", context, 500, "invalid", query=name, value=raw_value)
        try:
            q = query if isinstance(query, Query) else self.engine.catalog.get_query(query)
            self._authorize(principal, q, options, record)
            lookup = Lookup.of(q, raw_value, at)
        except QueryError as exc:
            record.status, record.error = exc.status_code, exc.code
            record.extra["took_ms"] = _since(started)
            self.audit.write(record)
            raise
        skips = self.instance_skips(principal, q, lookup.value, options.tlp)
        chain = self._chain_skips(principal, q, lookup.value, options.tlp, skips)
        masked = self.masked_fields(principal, q.name)
        return Prepared(principal, lookup, options, skips, masked, record.rule or "", context, chain, started)

    def _authorize(self, principal: Principal, query: Query[Any], options: AskOptions, record: AuditRecord) -> None:
        """``run``, then ``no_cache`` when asked for; the record keeps the decision that settled it."""
        decision = self.check(principal, query.name, RUN)
        record.decision, record.rule = ("allowed" if decision else "denied"), decision.rule
        if not decision:
            raise PermissionDenied(f"you may not run {query.name}")
        if options.no_cache:
            bypass = self.check(principal, query.name, NO_CACHE)
            if not bypass:
                record.decision, record.rule = "denied", bypass.rule
                raise PermissionDenied(f"no_cache is not permitted for you on {query.name}")

    async def execute(self, prepared: Prepared) -> QueryResult:
        """Run a prepared lookup and write its audit line."""
        lookup, options = prepared.lookup, prepared.options
        record = AuditRecord(
            "query", prepared.context, 500, "allowed", rule=prepared.rule, query=lookup.query.name, value=lookup.value
        )
        try:
            result = await self.engine.ask(
                lookup,
                providers=options.providers,
                no_cache=options.no_cache,
                skip=prepared.skips,
                chain=prepared.chain,
            )
            result = self._finish(result, prepared.masked)
            record.status = 200
            record.extra.update(_provider_fields(result.providers))
            return result
        except QueryError as exc:
            record.status, record.error = exc.status_code, exc.code
            raise
        except asyncio.CancelledError:  # the client went away
            record.status, record.error = 499, "cancelled"
            raise
        finally:
            record.extra["took_ms"] = _since(prepared.started)
            self.audit.write(record)

    def _finish(self, result: QueryResult, fields: frozenset[str]) -> QueryResult:
        """Mask the typed result for this caller, and say so when no configured instance answers the query."""
        hint = None
        if not result.providers and not self.engine.answering(result.query):
            hint = f"no configured provider answers {result.query.name}"
        if not fields and hint is None:
            return result
        merged = masking.masked(result.merged, fields) if fields else result.merged
        return replace(result, merged=merged, masked=tuple(sorted(fields)), hint=hint)

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


def _since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


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
