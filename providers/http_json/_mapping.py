"""Requests out of templates, answers out of responses.

Templates are ``str.format`` strings with plain ``{name}`` placeholders only (checked at load). The value is never
spliced raw: in the path it is percent-encoded (``quote(value, safe="")``, so ``/`` and ``?`` stay data), in query
parameters and form it is encoded by the HTTP client, in a JSON body it is a JSON string, and a header may not
carry a line break.

Answers: ``items`` (JMESPath) picks the list of results, or the whole body is one; for each item every ``answer``
field is a JMESPath, and the fields are validated into the query's output model (a plain string or list output is
the ``value`` field). A response that cannot fill the model is a ``BadResponse`` naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import quote

import jmespath
from jmespath.parser import ParsedResult
from positron.queries import CATALOG
from pydantic import BaseModel, TypeAdapter, ValidationError

from positron.provider import Answer, BadResponse, Lookup

from ._config import Confidence, RequestSpec


@cache
def compiled(expression: str) -> ParsedResult:
    return jmespath.compile(expression)


def search(expression: str, data: Any) -> Any:
    return compiled(expression).search(data)


class _Vars(dict[str, str]):
    """Template variables; ``quote`` percent-encodes each one (for paths)."""

    def __init__(self, values: dict[str, str], *, quoted: bool) -> None:
        super().__init__({k: quote(v, safe="") if quoted else v for k, v in values.items()})


def variables(spec: RequestSpec, lookup: Lookup) -> dict[str, str] | None:
    """``value``, ``at`` and the value's row of the lookup table; None when the table does not know the value."""
    at = lookup.at or datetime.now(UTC)
    found = {"value": lookup.value, "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if spec.lookup_table is not None:
        row = spec.lookup_table.get(lookup.value)
        if row is None:
            return None
        found |= row
    return found


def render(template: str, values: dict[str, str], *, quoted: bool = False) -> str:
    return template.format_map(_Vars(values, quoted=quoted))


def render_body(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, str):
        return render(node, values)
    if isinstance(node, dict):
        return {k: render_body(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [render_body(v, values) for v in node]
    return node


def params(spec: RequestSpec, values: dict[str, str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, template in spec.query.items():
        for item in [template] if isinstance(template, str) else template:
            out.append((key, render(item, values)))
    return out


def headers(spec: RequestSpec, values: dict[str, str]) -> dict[str, str]:
    rendered = {k: render(v, values) for k, v in spec.headers.items()}
    if any("\r" in v or "\n" in v for v in rendered.values()):
        raise BadResponse("a header template produced a line break")  # normalized values never contain one
    return rendered


# --- answers ---


def answers(spec: RequestSpec, lookup: Lookup, doc: Any, label: str) -> list[Answer[Any]]:
    items = doc if spec.items is None else search(spec.items, doc)
    if spec.items is None:
        items = [items]
    if items is None:
        return []
    if not isinstance(items, list):
        raise BadResponse(f"{label}: items ({spec.items}) is not a list in the response")
    return [_answer(spec, lookup, item, label) for item in items if spec.present is None or search(spec.present, item)]


def _answer(spec: RequestSpec, lookup: Lookup, item: Any, label: str) -> Answer[Any]:
    query = CATALOG[lookup.query.name]
    mapped = {field: search(path, item) for field, path in spec.answer.items()}
    value = _validate(query.output, mapped, label)
    source_ref = search(spec.source_ref, item) if spec.source_ref else None
    return Answer(
        value,
        _confidence(spec.confidence, item),
        _observed(spec.observed_at, item, lookup),
        source_ref if isinstance(source_ref, str) and source_ref else None,
    )


def _validate(output: Any, mapped: dict[str, Any], label: str) -> Any:
    if isinstance(output, type) and issubclass(output, BaseModel):
        try:
            return output.model_validate({k: v for k, v in mapped.items() if v is not None})
        except ValidationError as exc:
            field = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "answer"
            raise BadResponse(f"{label}: the response gave no valid {field} ({exc.errors()[0]['type']})") from None
    try:
        return TypeAdapter(output).validate_python(mapped.get("value"))
    except ValidationError:
        raise BadResponse(f"{label}: the response gave no valid value") from None


def _confidence(spec: float | Confidence, item: Any) -> float:
    if not isinstance(spec, Confidence):
        return spec
    raw = search(spec.path, item)
    if spec.table is not None:
        number = (
            spec.table.get(raw, spec.table.get(str(raw), spec.default)) if isinstance(raw, int | str) else spec.default
        )
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        number = raw / spec.divide_by if spec.divide_by else float(raw)
    else:
        number = spec.default
    return round(max(spec.min, min(spec.max, number)), 6)


def _observed(path: str | None, item: Any, lookup: Lookup) -> datetime | None:
    if path is None:
        return None
    if path == "request_time":
        return lookup.at.astimezone(UTC) if lookup.at else datetime.now(UTC)
    raw = search(path, item)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            return datetime.fromtimestamp(raw, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


__all__ = ["answers", "headers", "params", "render", "render_body", "variables"]
