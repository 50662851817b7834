"""Configuration: one YAML file, validated by pydantic; every error names the key that is wrong.

server:    {host: 127.0.0.1, port: 8080}
engine:    {deadline_s: 10, retries: 2}
api_keys:  [{principal: alice, groups: [soc-analysts], key_hash: "sha256:..."}]
security:  {policy: acl/policy.csv, keys_file: keys.jsonl, audit: {destination: stdout}}
cli:       {principal: cli, groups: [admins]}
providers: {<instance name>: {type: <provider type>, ...that type's Config...}}
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from positron.errors import ConfigError
from positron.provider import ProviderConfig
from positron.registry import Registry
from positron.security.auth import HASH_PATTERN
from positron.security.egress import Tlp
from positron.security.secrets import Secret, is_placeholder, secret_fields
from positron.security.webhooks import WebhookConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    docs_public: bool = Field(default=True, description="Serve /docs and /openapi.json without a key")
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Reverse proxies (addresses or networks) whose X-Forwarded-For names the client (default: none)",
    )
    lookup_page: bool = Field(default=True, description="Serve the analysts' lookup page at / (data needs a key)")


class EngineConfig(_Strict):
    deadline_s: float = Field(default=10.0, gt=0, le=300, description="Whole-request deadline")
    retries: int = Field(default=2, ge=0, le=10, description="Extra attempts for transient provider errors")
    retry_backoff_s: float = Field(default=0.05, ge=0, le=10, description="First backoff; doubles each time")
    conflict_margin: float = Field(default=0.1, ge=0, le=1, description="Top answers closer than this conflict")
    cache_entries: int = Field(default=10_000, ge=0, description="In-memory cache size (0 disables caching)")


class WorkflowConfig(_Strict):
    """Batch and enrich."""

    batch_max_items: int = Field(default=1000, ge=1, le=100_000, description="Items accepted in one batch")
    batch_concurrency: int = Field(default=32, ge=1, le=1024, description="Distinct items running at once")
    enrich_hints: dict[str, str] = Field(
        default_factory=dict,
        description="Extra alert field → observable type: username, hostname, ip_or_host, hash, mail, domain, url",
    )
    enrich_time_field: str | None = Field(default=None, description="Alert field holding its time (default _time)")
    enrich_max_observables: int = Field(
        default=100, ge=1, le=10_000, description="Observables one enrich request may look up (more: 422)"
    )
    max_lookups: int = Field(
        default=1000, ge=1, le=100_000, description="Distinct lookups one batch or enrich request may make (more: 422)"
    )


class CliConfig(_Strict):
    """Who ``positron query`` and ``positron enrich`` (in-process, without --server) are to the access policy: the
    CLI asks through the same guard as the API (policy, egress, masking, audit)."""

    principal: str = Field(default="cli", min_length=1, max_length=128, description="The name policy and audit see")
    groups: list[str] = Field(
        default_factory=lambda: ["admins"], description="Its groups (default: admins, the default policy's admin group)"
    )


class RedisConfig(_Strict):
    """Shared state for several replicas; without a url everything stays in this process."""

    url: Secret | None = Field(
        default=None,
        description="redis://[:password@]host:6379/0, rediss://…, redis+sentinel://h1:26379,h2:26379/mymaster or "
        "redis+cluster://h1:7000,h2:7001 (may hold a password)",
    )
    prefix: str = Field(
        default="positron", min_length=1, max_length=64, pattern=r"^[^{}\s]+$", description="Key prefix (no braces)"
    )
    timeout_s: float = Field(
        default=1.0, gt=0, le=10, description="Socket and connect timeout per command (a busy event loop counts)"
    )
    failures: int = Field(
        default=3, ge=1, le=100, description="Timeouts in a row that mark Redis down (a connection error does at once)"
    )
    retry_s: float = Field(default=1.0, gt=0, le=60, description="While Redis is down, probe it this often")
    local_cache_s: float = Field(
        default=0.0, ge=0, le=60, description="Also keep entries read from Redis in the process this long (0: off)"
    )


class CircuitConfig(_Strict):
    failures: int = Field(default=5, ge=0, description="Consecutive failures that open an instance's circuit (0: off)")
    cooldown_s: float = Field(default=30.0, gt=0, le=3600, description="How long an open circuit skips the instance")
    health_interval_s: float = Field(default=0.0, ge=0, description="Scheduled health checks (0: only on /ready)")


class MetricsConfig(_Strict):
    enabled: bool = Field(default=True, description="Serve Prometheus metrics at /metrics")
    public: bool = Field(default=True, description="Serve /metrics without an API key")


class ApiKeyConfig(_Strict):
    """A key as a hash (``positron keys create`` prints one), or as a secret reference hashed at load."""

    principal: str = Field(min_length=1, max_length=128)
    key: Secret | None = Field(default=None, description="The key itself, e.g. {env: NAME}; prefer key_hash")
    key_hash: str | None = Field(default=None, pattern=HASH_PATTERN, description="sha256:<hex> of the key")
    groups: list[str] = Field(default_factory=list)
    expires: AwareDatetime | None = Field(default=None, description="After this the key is refused")

    @model_validator(mode="after")
    def _one_key(self) -> ApiKeyConfig:
        if (self.key is None) == (self.key_hash is None):
            raise ValueError("give exactly one of key (a secret reference) or key_hash")
        return self


class AuditConfig(_Strict):
    destination: str | None = Field(default="stdout", description="'stdout', a file path, or null for no audit")
    hash_values: bool = Field(default=False, description="Log an HMAC of each looked-up value instead of the value")
    hash_key: Secret | None = Field(default=None, description="HMAC key for hash_values, e.g. {env: NAME}")


class SecurityConfig(_Strict):
    """Access policy, keys file, egress, audit and HTTP hardening (README, Security)."""

    policy: Path | None = Field(default=None, description="Casbin policy CSV (default: group 'admins' may do all)")
    model: Path | None = Field(default=None, description="Casbin model (default: the built-in acl/model.conf)")
    keys_file: Path | None = Field(default=None, description="Hashed API keys, one JSON object a line")
    internal_domains: list[str] = Field(default_factory=list, description="Suffixes of internal names")
    default_tlp: Tlp | None = Field(default="amber", description="TLP of a request that gives none")
    audit: AuditConfig = Field(default_factory=AuditConfig)
    cors_origins: list[str] = Field(default_factory=list, description="Browser origins allowed (default: none)")
    max_body_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20, description="Larger request bodies: 413")


class Settings(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    workflows: WorkflowConfig = Field(default_factory=WorkflowConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    circuit: CircuitConfig = Field(default_factory=CircuitConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    cli: CliConfig = Field(default_factory=CliConfig)
    api_keys: list[ApiKeyConfig] = Field(default_factory=list)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    webhooks: list[WebhookConfig] = Field(default_factory=list, description="Tokens in the URL path (Splunk alerts)")
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    demo: bool = Field(default=False, description="Set by the embedded demo; relaxes the placeholder check")
    _source: Path | None = PrivateAttr(default=None)  # the file it came from, re-read on reload

    @property
    def source(self) -> Path | None:
        return self._source


class Environment(BaseSettings):
    """Process environment: where the config is and the demo key."""

    model_config = SettingsConfigDict(env_prefix="POSITRON_")

    config: Path | None = None
    demo_key: str | None = None

    @field_validator("config", "demo_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value


def _key_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _config_error(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> ConfigError:
    first = exc.errors(include_url=False, include_input=False)[0]
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return ConfigError(first["msg"] + more, key=_key_path(prefix + tuple(first["loc"])))


def parse_settings(data: dict[str, Any], registry: Registry) -> Settings:
    """Validate a config mapping; each provider instance against its own type's Config."""
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping", key="(top level)")
    raw_providers = data.get("providers") or {}
    if not isinstance(raw_providers, dict):
        raise ConfigError("must be a mapping of instance name to settings", key="providers")
    providers: dict[str, ProviderConfig] = {}
    for name, raw in raw_providers.items():
        if not isinstance(raw, dict) or "type" not in raw:
            raise ConfigError("needs a 'type'", key=f"providers.{name}")
        provider_cls = registry.get(str(raw["type"]))
        try:
            providers[str(name)] = provider_cls.Config.model_validate(raw)
        except ValidationError as exc:
            raise _config_error(exc, ("providers", name)) from None
    try:
        settings = Settings.model_validate({**data, "providers": {}})
    except ValidationError as exc:
        raise _config_error(exc) from None
    settings.providers = providers
    _refuse_placeholders(settings)
    return settings


def _refuse_placeholders(settings: Settings) -> None:
    if settings.demo:
        return
    for i, api_key in enumerate(settings.api_keys):
        if api_key.key is not None and (is_placeholder(api_key.key) or len(api_key.key.get_secret_value()) < 16):
            raise ConfigError("is a placeholder or shorter than 16 characters", key=f"api_keys.{i}.key")
    for where, secret in secret_fields(settings):
        if is_placeholder(secret):
            raise ConfigError("is a placeholder (e.g. changeme); give the real secret", key=where)


def load_settings(path: Path, registry: Registry) -> Settings:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path} is not valid YAML{where}") from None
    settings = parse_settings(data, registry)
    settings._source = path
    return settings


@lru_cache(maxsize=1)
def get_environment() -> Environment:
    return Environment()
