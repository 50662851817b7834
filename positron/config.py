"""Configuration: one YAML file, validated by pydantic; every error names the key that is wrong.

server:    {host: 127.0.0.1, port: 8080}
engine:    {deadline_s: 10, retries: 2}
api_keys:  [{principal: alice, key: {env: ALICE_KEY}}]
providers: {<instance name>: {type: <provider type>, ...that type's Config...}}
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from positron.errors import ConfigError
from positron.provider import ProviderConfig
from positron.registry import Registry
from positron.secrets import Secret, is_placeholder


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    docs_public: bool = Field(default=True, description="Serve /docs and /openapi.json without a key")


class EngineConfig(_Strict):
    deadline_s: float = Field(default=10.0, gt=0, le=300, description="Whole-request deadline")
    retries: int = Field(default=2, ge=0, le=10, description="Extra attempts for transient provider errors")
    retry_backoff_s: float = Field(default=0.05, ge=0, le=10, description="First backoff; doubles each time")
    conflict_margin: float = Field(default=0.1, ge=0, le=1, description="Top answers closer than this conflict")
    cache_entries: int = Field(default=10_000, ge=0, description="In-memory cache size (0 disables caching)")


class ApiKeyConfig(_Strict):
    principal: str = Field(min_length=1, max_length=128)
    key: Secret
    groups: list[str] = Field(default_factory=list)


class Settings(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    api_keys: list[ApiKeyConfig] = Field(default_factory=list)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    demo: bool = Field(default=False, description="Set by the embedded demo; relaxes the placeholder check")


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
        if is_placeholder(api_key.key) or len(api_key.key.get_secret_value()) < 16:
            raise ConfigError("is a placeholder or shorter than 16 characters", key=f"api_keys.{i}.key")


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
    return parse_settings(data, registry)


@lru_cache(maxsize=1)
def get_environment() -> Environment:
    return Environment()
