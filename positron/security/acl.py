"""Access control with Casbin: who may run which query, use which provider instance, see which field, administer.

The model (``acl/model.conf``, installed as the data package ``positron.acl``) is RBAC with groups and glob
patterns on objects and actions. A request is allowed when some policy line allows it for the principal or any of
the groups its key carries, and no line denies it for any of them; nothing matching means deny. Pycasbin
evaluates the lines: one enforcer with an allow-override effect finds the allowing line, one with a deny-override
effect finds a denying line, and both are asked for every subject, so the decision names the rule that made it
(for the audit log).

Without ``security.policy`` the policy is the shipped example, ``acl/policy.csv`` (groups soc-analysts,
incident-responders, hr-partners, automation, admins; a key with none of them may do nothing; the demo's key is in
admins). Decisions are cached until the next reload, which swaps a whole new ``AccessControl`` in.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import casbin
from casbin.effect.default_effectors import AllowOverrideEffector, DenyOverrideEffector
from casbin.util.builtin_operators import glob_match

from positron.errors import ConfigError
from positron.security.auth import Principal

# pycasbin logs every decision (a denial at WARNING) and its model at start; the audit log records decisions
# instead. Levels, unlike ``disabled``, survive the dictConfig that uvicorn runs at start.
for _name in ("casbin", "casbin.policy", "casbin.enforcer", "casbin.role"):
    logging.getLogger(_name).setLevel(logging.ERROR)

DEFAULTS = files("positron.acl")  # acl/ in the repository, installed as package data
MODEL = DEFAULTS.joinpath("model.conf").read_text(encoding="utf-8")
DEFAULT_POLICY = DEFAULTS.joinpath("policy.csv").read_text(encoding="utf-8")
DEFAULT_POLICY_SOURCE = "the default policy (acl/policy.csv)"

RUN = "run"
USE = "use"
NO_CACHE = "no_cache"
READ = "read"
ADMIN = "admin"
_FIELD_OBJECT = re.compile(r"^([A-Za-z0-9_*?\[\]-]+)\.([a-z0-9_]+)$")
_CACHE_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str = "default deny"  # the policy line that decided, for the audit log

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True, slots=True)
class Policy:
    rules: list[list[str]] = field(default_factory=list)  # sub, obj, act, eft
    links: list[list[str]] = field(default_factory=list)  # member, group
    source: str = "policy"


def parse_policy(text: str, source: str = "policy") -> Policy:
    """Casbin's CSV policy format, validated line by line so an error names the line."""
    policy = Policy(source=source)
    for number, row in enumerate(csv.reader(io.StringIO(text), skipinitialspace=True), 1):
        cells = [c.strip() for c in row]
        if not cells or not cells[0] or cells[0].startswith("#"):
            continue
        where = f"{source}:{number}"
        if cells[0] == "p":
            if len(cells) == 4:
                cells.append("allow")
            if len(cells) != 5 or not all(cells[1:4]) or cells[4] not in ("allow", "deny"):
                raise ConfigError(f"{where}: expected 'p, subject, object, action, allow|deny'")
            policy.rules.append(cells[1:])
        elif cells[0] == "g":
            if len(cells) != 3 or not all(cells[1:]):
                raise ConfigError(f"{where}: expected 'g, member, group'")
            policy.links.append(cells[1:])
        else:
            raise ConfigError(f"{where}: a line starts with 'p' (a rule) or 'g' (a group link), not {cells[0]!r}")
    return policy


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None


def _enforcer(model_text: str, policy: Policy, effector: object) -> casbin.Enforcer:
    try:
        enforcer = casbin.Enforcer(casbin.Enforcer.new_model(text=model_text))
        enforcer.set_effector(effector)
        if policy.rules:
            enforcer.add_named_policies("p", policy.rules)
        if policy.links:
            enforcer.add_named_grouping_policies("g", policy.links)
        enforcer.enforce_ex("-", "-", "-")  # a model that cannot evaluate fails here, at load, not per request
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"the access model or {policy.source} is not usable: {type(exc).__name__}: {exc}") from None
    return enforcer


class AccessControl:
    def __init__(self, policy: Policy | None = None, model_text: str = MODEL) -> None:
        self.policy = policy or parse_policy(DEFAULT_POLICY, DEFAULT_POLICY_SOURCE)
        self._allows = _enforcer(model_text, self.policy, AllowOverrideEffector())
        self._denies = _enforcer(model_text, self.policy, DenyOverrideEffector())
        self._cache: dict[tuple[tuple[str, ...], str, str], Decision] = {}
        self._protected = [
            (m[1], m[2])
            for sub, obj, act, eft in self.policy.rules
            if act == READ and (m := _FIELD_OBJECT.match(obj)) is not None
        ]

    @classmethod
    def from_files(cls, policy_path: Path | None, model_path: Path | None) -> AccessControl:
        policy = parse_policy(read_text(policy_path, "policy"), str(policy_path)) if policy_path else None
        model = read_text(model_path, "access model") if model_path else MODEL
        return cls(policy, model)

    def check(self, principal: Principal, obj: str, act: str) -> Decision:
        key = (principal.subjects, obj, act)
        decision = self._cache.get(key)
        if decision is None:
            decision = self._decide(principal.subjects, obj, act)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = decision
        return decision

    def _decide(self, subjects: tuple[str, ...], obj: str, act: str) -> Decision:
        allowed_by: list[str] | None = None
        for subject in subjects:
            allowed, rule = self._allows.enforce_ex(subject, obj, act)
            if allowed and allowed_by is None:
                allowed_by = rule
            permitted, deny_rule = self._denies.enforce_ex(subject, obj, act)
            if not permitted:
                return Decision(False, _rule_text(deny_rule))
        if allowed_by is None:
            return Decision(False, "default deny")
        return Decision(True, _rule_text(allowed_by))

    def masked_fields(self, principal: Principal, query_name: str) -> frozenset[str]:
        """Fields of this query's answers the caller may not see: named in a ``read`` rule, not granted to them."""
        return frozenset(
            name
            for pattern, name in self._protected
            if glob_match(query_name, pattern) and not self.check(principal, f"{query_name}.{name}", READ)
        )

    @property
    def rule_count(self) -> int:
        return len(self.policy.rules) + len(self.policy.links)


def _rule_text(rule: list[str]) -> str:
    return "p, " + ", ".join(rule) if rule else "default deny"
