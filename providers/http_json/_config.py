"""The settings of an ``http_json`` instance, checked when the configuration loads so that every mistake names its
key: a template that uses an unknown variable, a JMESPath that does not compile, a field the query's answer lacks.
"""

from __future__ import annotations

import string
from typing import Annotated, Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from positron.queries import CATALOG
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from positron.provider import BaseUrl, ProviderConfig, Secret

BUILT_IN_VARIABLES = frozenset({"value", "at"})
_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


def _compiles(expression: str) -> str:
    try:
        jmespath.compile(expression)
    except JMESPathError as exc:
        raise ValueError(f"not a valid JMESPath expression ({type(exc).__name__}: {exc})") from None
    return expression


JmesPath = Annotated[str, AfterValidator(_compiles)]


def template_fields(template: str) -> list[str]:
    """The variables a ``{name}`` template uses; refuses attribute or index access and format specs."""
    names = []
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(f"template {template!r}: use plain {{name}} placeholders, got {{{field}}}")
        names.append(field)
    return names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HeaderAuth(_Strict):
    type: Literal["header"]
    name: str = Field(pattern=r"^[A-Za-z0-9-]{1,64}$")
    prefix: str = Field(default="", description='Put before the secret, e.g. "Token token="')
    value: Secret


class BearerAuth(_Strict):
    type: Literal["bearer"]
    token: Secret


class BasicAuth(_Strict):
    type: Literal["basic"]
    username: str
    password: Secret


class OAuth2ClientCredentials(_Strict):
    type: Literal["oauth2_client_credentials"]
    token_url: BaseUrl
    client_id: str
    client_secret: Secret
    scope: str | None = None


Auth = Annotated[HeaderAuth | BearerAuth | BasicAuth | OAuth2ClientCredentials, Field(discriminator="type")]


class Confidence(_Strict):
    """A number from the response: ``path``, optionally divided, looked up in ``table``, clamped to min..max."""

    path: JmesPath
    divide_by: float | None = Field(default=None, gt=0)
    table: dict[int | str, float] | None = Field(default=None, description="Value → confidence")
    default: float = Field(default=0.5, ge=0, le=1)
    min: float = Field(default=0.0, ge=0, le=1)
    max: float = Field(default=1.0, ge=0, le=1)


StatusMeaning = Literal["no_data", "rate_limited", "error"]


def _default_status() -> dict[int, StatusMeaning]:
    return {404: "no_data"}


class RequestSpec(_Strict):
    """How one query is asked and how the answer is read."""

    method: Literal["GET", "POST"] = "GET"
    path: str = Field(description="Appended to base_url; {value} is URL-encoded into it")
    query: dict[str, str | list[str]] = Field(default_factory=dict, description="Query parameters (templates)")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers (templates)")
    body: Any = Field(default=None, description="A JSON body; strings in it are templates")
    lookup_table: dict[str, dict[str, str]] | None = Field(
        default=None, description="Value → extra template variables; a value not in it is no data"
    )
    status: dict[int, StatusMeaning] = Field(
        default_factory=_default_status, description="What a status means besides 2xx"
    )
    items: JmesPath | None = Field(default=None, description="The list of results; default: the whole body is one")
    answer: dict[str, JmesPath] = Field(description="Answer field → JMESPath, evaluated on each item")
    present: JmesPath | None = Field(default=None, description="An item is no data unless this is truthy")
    observed_at: JmesPath | Literal["request_time"] | None = None
    confidence: float | Confidence = 1.0
    source_ref: JmesPath | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value


class HttpJsonConfig(ProviderConfig):
    base_url: BaseUrl = Field(description="The API root, e.g. https://api.example.com")
    auth: Auth | None = None
    headers: dict[str, str] = Field(default_factory=dict, description="Sent with every request (no secrets here)")
    requests: dict[str, RequestSpec] = Field(min_length=1, description="Query name → how to ask it")
    egress: Literal["internal", "external"] = Field(default="external", description="Most REST sources are")
    verify_tls: bool = True

    @model_validator(mode="after")
    def _against_the_catalog(self) -> HttpJsonConfig:
        for name, spec in self.requests.items():
            if name not in CATALOG:
                raise ValueError(f"requests.{name}: unknown query; known: {', '.join(CATALOG)}")
            _check_fields(name, spec)
            _check_templates(name, spec)
        return self


def answer_fields(query_name: str) -> frozenset[str]:
    """The fields an answer of this query has: a model's fields, or ``value`` for a plain string or list."""
    output = CATALOG[query_name].output
    fields = getattr(output, "model_fields", None)
    return frozenset(fields) if isinstance(fields, dict) else frozenset({"value"})


def _check_fields(name: str, spec: RequestSpec) -> None:
    known = answer_fields(name)
    for field in spec.answer:
        if field not in known:
            fields = ", ".join(sorted(known))
            raise ValueError(f"requests.{name}.answer.{field}: the {name} answer has no such field; it has {fields}")


def _check_templates(name: str, spec: RequestSpec) -> None:
    variables = set(BUILT_IN_VARIABLES)
    if spec.lookup_table:
        tables = [set(row) for row in spec.lookup_table.values()]
        variables |= set.intersection(*tables) if tables else set()
    for where, template in _templates(spec):
        try:
            unknown = [f for f in template_fields(template) if f not in variables]
        except ValueError as exc:
            raise ValueError(f"requests.{name}.{where}: {exc}") from None
        if unknown:
            raise ValueError(f"requests.{name}.{where}: unknown variable {{{unknown[0]}}}; known: {sorted(variables)}")


def _templates(spec: RequestSpec) -> list[tuple[str, str]]:
    found = [("path", spec.path)]
    for key, value in spec.query.items():
        found += [(f"query.{key}", v) for v in ([value] if isinstance(value, str) else value)]
    found += [(f"headers.{k}", v) for k, v in spec.headers.items()]
    found += [(f"body{where}", text) for where, text in _strings(spec.body, "")]
    return found


def _strings(node: Any, where: str) -> list[tuple[str, str]]:
    if isinstance(node, str):
        return [(where, node)]
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in _strings(v, f"{where}.{k}")]
    if isinstance(node, list):
        return [pair for i, v in enumerate(node) for pair in _strings(v, f"{where}.{i}")]
    return []
