"""Configuration: one YAML file, validated by pydantic; every error names the key that is wrong.

server:    {host: 127.0.0.1, port: 8080}
engine:    {deadline_s: 10, retries: 2}
api_keys:  [{principal: alice, groups: [soc-analysts], key_hash: "sha256:..."}]
security:  {policy: acl/policy.csv, keys_file: keys.jsonl, audit: {destination: stdout}}
cli:       {principal: cli, groups: [admins]}
providers: {<instance name>: {type: <provider type>, ...that type's Config...}}
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    PrivateAttr,
    SecretStr,
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
from positron.security.secrets import Secret, is_placeholder, loose_permissions, secret_fields, secret_path
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
    ssl_certfile: Path | None = Field(default=None, description="PEM certificate (chain): serve HTTPS")
    ssl_keyfile: Path | None = Field(default=None, description="PEM private key of ssl_certfile")

    @model_validator(mode="after")
    def _both_tls_files(self) -> ServerConfig:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("give both ssl_certfile and ssl_keyfile, or neither")
        return self


class LoggingConfig(_Strict):
    """The process's log (stderr): uvicorn's access lines and Positron's own. The audit log is separate."""

    format: Literal["text", "json"] = Field(default="text", description="json: one JSON object a line")
    level: Literal["debug", "info", "warning", "error"] = Field(default="info")


class TracingConfig(_Strict):
    """OpenTelemetry traces (``pip install positron-broker[otel]``): a span per request, one per provider call."""

    enabled: bool = False
    exporter: Literal["otlp", "console"] = Field(default="otlp", description="otlp: OTLP over HTTP to endpoint")
    endpoint: str | None = Field(default=None, description="OTLP/HTTP traces URL (default: the SDK's, or env)")
    service_name: str = Field(default="positron", min_length=1)
    sample_ratio: float = Field(default=1.0, ge=0, le=1, description="Share of new traces recorded")


class EngineConfig(_Strict):
    deadline_s: float = Field(default=10.0, gt=0, le=300, description="Whole-request deadline")
    retries: int = Field(default=2, ge=0, le=10, description="Extra attempts for transient provider errors")
    retry_backoff_s: float = Field(default=0.05, ge=0, le=10, description="First backoff; doubles each time")
    conflict_margin: float = Field(
        default=0.1, ge=0, le=1, description="Answers that both hold at `at` conflict when their scores are this close"
    )
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

    @field_validator("url")
    @classmethod
    def _parsable_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None:
            redis_url_problem(url.get_secret_value())
        return url


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


def redis_url_problem(url: str) -> None:
    """Refuse a redis:// URL that redis-py would misread (an unencoded ``/`` or ``@`` in the password turns part of
    it into the port, and redis-py's error would print it). The message never repeats the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return
    try:
        parts.port  # noqa: B018 (parsing is the check)
    except ValueError:
        port_ok = False
    else:
        port_ok = True
    db = parts.path.strip("/")
    if not port_ok or not parts.hostname or not (db == "" or db.isdigit()):
        raise ValueError(
            "is not a valid Redis URL: expected redis://[:password@]host[:port][/db]; "
            "percent-encode '/', '@', ':' and '%' in the password (e.g. / as %2F)"
        )


class Settings(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    workflows: WorkflowConfig = Field(default_factory=WorkflowConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    circuit: CircuitConfig = Field(default_factory=CircuitConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    cli: CliConfig = Field(default_factory=CliConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    api_keys: list[ApiKeyConfig] = Field(default_factory=list)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    webhooks: list[WebhookConfig] = Field(default_factory=list, description="Tokens in the URL path (Splunk alerts)")
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    demo: bool = Field(default=False, description="Set by the embedded demo; relaxes the placeholder check")
    _source: Path | None = PrivateAttr(default=None)  # the file it came from, re-read on reload
    _warnings: list[str] = PrivateAttr(default_factory=list)  # problems that do not stop a start

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def warnings(self) -> list[str]:
        """What is allowed but unwise (e.g. a secret file others may read), each naming its key."""
        return list(self._warnings)


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


def _config_errors(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[ConfigError]:
    """Every error pydantic found, each naming its key (never the input: it may be a secret)."""
    return [
        ConfigError(err["msg"], key=_key_path(prefix + tuple(err["loc"])))
        for err in exc.errors(include_url=False, include_input=False)
    ]


def parse_settings(data: dict[str, Any], registry: Registry, *, base: Path | None = None) -> Settings:
    """Validate a config mapping; each provider instance against its own type's Config. Every problem is
    collected and raised at once (``ConfigError.problems``). ``base`` is the config file's folder: relative paths
    (files, ``{file:}`` secrets) are taken from there."""
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping", key="(top level)")
    context = {"base": base}
    errors: list[ConfigError] = []
    providers = _parse_providers(data.get("providers") or {}, registry, context, errors)
    settings: Settings | None = None
    try:
        settings = Settings.model_validate({**data, "providers": {}}, context=context)
    except ValidationError as exc:
        errors += _config_errors(exc)
        valid = _valid_sections(data, exc, context)  # still look for placeholders in the sections that are fine
        errors += _placeholders(valid, {}, bool(data.get("demo"))) if valid is not None else []
    else:
        errors += _placeholders(settings, providers, settings.demo)
    if errors or settings is None:
        raise ConfigError.of(errors)
    settings.providers = providers
    if base is not None:
        _resolve_paths(settings, base)
    settings._warnings = list(_loose_secret_files(data, base))
    return settings


def _parse_providers(
    raw_providers: Any, registry: Registry, context: dict[str, Any], errors: list[ConfigError]
) -> dict[str, ProviderConfig]:
    if not isinstance(raw_providers, dict):
        errors.append(ConfigError("must be a mapping of instance name to settings", key="providers"))
        return {}
    providers: dict[str, ProviderConfig] = {}
    for name, raw in raw_providers.items():
        if not isinstance(raw, dict) or "type" not in raw:
            errors.append(ConfigError("needs a 'type'", key=f"providers.{name}"))
            continue
        try:
            provider_cls = registry.get(str(raw["type"]))
            providers[str(name)] = provider_cls.Config.model_validate(raw, context=context)
        except ConfigError as exc:  # an unknown type
            errors.append(ConfigError(exc.message, key=f"providers.{name}.type"))
        except ValidationError as exc:
            errors += _config_errors(exc, ("providers", name))
    return providers


def _valid_sections(data: dict[str, Any], exc: ValidationError, context: dict[str, Any]) -> Settings | None:
    """Settings from only the top-level sections that had no error (None if even that fails)."""
    bad = {err["loc"][0] for err in exc.errors(include_url=False, include_input=False) if err["loc"]}
    try:
        return Settings.model_validate(
            {k: v for k, v in data.items() if k not in bad and k != "providers"}, context=context
        )
    except ValidationError:
        return None


def _placeholders(settings: Settings | None, providers: dict[str, ProviderConfig], demo: bool) -> list[ConfigError]:
    if demo:
        return []
    found = []
    for i, api_key in enumerate(settings.api_keys if settings is not None else []):
        if api_key.key is not None and (is_placeholder(api_key.key) or len(api_key.key.get_secret_value()) < 16):
            found.append(ConfigError("is a placeholder or shorter than 16 characters", key=f"api_keys.{i}.key"))
    secrets = [*secret_fields(settings)] if settings is not None else []
    reported = {e.key for e in found}
    for where, secret in [*secrets, *secret_fields(providers, "providers")]:
        if is_placeholder(secret) and where not in reported:
            found.append(ConfigError("is a placeholder (e.g. changeme); give the real secret", key=where))
    return found


def _resolve_paths(value: Any, base: Path) -> None:
    """Make every relative ``Path`` setting (policy, keys file, TLS files, providers' files) relative to ``base``,
    the config file's folder, in place; and the audit file (a string: ``stdout`` is not a path)."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            item = getattr(value, name)
            if isinstance(item, Path) and not item.expanduser().is_absolute():
                setattr(value, name, base / item.expanduser())
            else:
                _resolve_paths(item, base)
        if isinstance(value, AuditConfig) and value.destination not in (None, "stdout"):
            value.destination = str(base / Path(value.destination).expanduser())
    elif isinstance(value, dict):
        for item in value.values():
            _resolve_paths(item, base)
    elif isinstance(value, list | tuple):
        for item in value:
            _resolve_paths(item, base)


def _loose_secret_files(data: Any, base: Path | None, where: str = "") -> Iterator[str]:
    """A warning for every ``{file: PATH}`` secret its group or others may read, naming the key."""
    if isinstance(data, dict) and set(data) == {"file"}:
        path = secret_path(data["file"], base)
        if loose_permissions(path):
            yield f"{where}: secret file {path} is readable by group or others (chmod 600 {path})"
    elif isinstance(data, dict):
        for key, item in data.items():
            yield from _loose_secret_files(item, base, f"{where}.{key}" if where else str(key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _loose_secret_files(item, base, f"{where}.{i}")


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
    settings = parse_settings(data, registry, base=path.resolve().parent)
    settings._source = path
    return settings


@lru_cache(maxsize=1)
def get_environment() -> Environment:
    return Environment()
