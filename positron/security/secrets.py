"""Secrets in config: ``{"env": "NAME"}`` or ``{"file": "/run/secrets/x"}`` references, resolved at load.

A resolved secret is a ``SecretStr``: it prints as ``**********``, serializes as that too, and is unwrapped
(``get_secret_value()``) only where a provider builds its client. A relative ``file`` path is relative to the
config file's folder (the validation context's ``base``), not to wherever the process was started.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, SecretStr, ValidationInfo

PLACEHOLDERS = frozenset(
    {"changeme", "change-me", "change_me", "replace-me", "secret", "password", "xxx", "todo", "placeholder", "dummy"}
)


def secret_path(raw: Any, base: Path | None) -> Path:
    """Where a ``{file: PATH}`` reference points: relative paths from ``base`` (the config file's folder)."""
    path = Path(str(raw)).expanduser()
    return base / path if base is not None and not path.is_absolute() else path


def loose_permissions(path: Path) -> bool:
    """True when a secret file may be read by its group or by others (anything beyond chmod 600/400)."""
    try:
        return bool(path.stat().st_mode & 0o077)
    except OSError:
        return False


def resolve_secret(raw: Any, info: ValidationInfo) -> Any:
    if isinstance(raw, dict) and set(raw) == {"env"}:
        name = str(raw["env"])
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]
    if isinstance(raw, dict) and set(raw) == {"file"}:
        context = info.context if isinstance(info.context, dict) else {}
        path = secret_path(raw["file"], context.get("base"))
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
        if not text:
            raise ValueError(f"secret file {path} is empty")
        return text
    if isinstance(raw, dict):
        raise ValueError('a secret is {"env": NAME}, {"file": PATH} or a string')
    return raw


Secret = Annotated[SecretStr, BeforeValidator(resolve_secret)]


def is_placeholder(secret: SecretStr) -> bool:
    return secret.get_secret_value().strip().casefold() in PLACEHOLDERS


def secret_fields(value: Any, where: str = "") -> Iterator[tuple[str, SecretStr]]:
    """Every SecretStr inside a settings object, with its dotted key (``providers.vt.api_key``)."""
    if isinstance(value, SecretStr):
        yield where, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from secret_fields(getattr(value, name), f"{where}.{name}" if where else name)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from secret_fields(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from secret_fields(item, f"{where}.{i}")
