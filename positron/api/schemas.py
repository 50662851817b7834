"""The API's request and response models. Per-query models are generated from the catalog so that OpenAPI (and
Swagger UI) shows each query's own input and output."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator

from positron.inputs import EXPECTED, MAX_VALUE_LENGTH
from positron.query import Query
from positron.results import result_body as result_body  # the one serialization, re-exported
from positron.security.egress import Tlp, parse_tlp

T = TypeVar("T")

EXAMPLES = {
    "ip": "10.20.0.42",
    "hostname": "ws-042.corp.example",
    "domain": "example.com",
    "username": "jdoe",
    "hash": "44d88612fea8a8f36de82e1278abb02f",
    "mac": "00:16:3e:12:34:56",
    "team": "soc",
    "url": "https://example.com/login",
}


class ErrorBody(BaseModel):
    code: str = Field(description="Stable snake_case error code")
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


TlpField = Annotated[
    Tlp | None,
    BeforeValidator(parse_tlp),
    Field(
        description="Traffic Light Protocol level of the value (also TLP:AMBER, white, Cortex's 0-3): instances "
        "whose max_tlp is lower are skipped. Default: the server's security.default_tlp",
    ),
]


class QueryRequestBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str  # redefined per query with its input kind
    providers: list[str] | None = Field(
        default=None, max_length=64, description="Ask only these provider instances (default: all that answer)"
    )
    no_cache: bool = Field(default=False, description="Ask providers afresh instead of using cached answers")
    tlp: TlpField = None

    @model_validator(mode="before")
    @classmethod
    def _at_only_where_taken(cls, data: Any) -> Any:
        if isinstance(data, dict) and "at" in data and "at" not in cls.model_fields:
            raise ValueError("this query answers for now only and does not take 'at'")
        return data


class SourceOut(BaseModel, Generic[T]):
    provider: str
    type: str
    value: T = Field(description="What this provider answered")
    confidence: float = Field(description="The provider's own confidence (0..1)")
    score: float = Field(description="weight × confidence × recency")
    observed_at: datetime | None = Field(description="When the source saw it")
    source_ref: str | None = Field(description="Permalink or id at the source")


class AnswerOut(BaseModel, Generic[T]):
    value: T
    confidence: float = Field(description="Merged score (0..1); agreeing sources raise it")
    sources: list[SourceOut[T]]


class ProviderStatusOut(BaseModel):
    name: str
    type: str
    status: Literal["ok", "no_data", "error", "timeout", "rate_limited", "skipped"]
    elapsed_ms: float
    cached: bool
    age_s: float | None = Field(default=None, description="Age of the cached answer")
    error: str | None = None
    error_code: str | None = None
    retry_after: float | None = None


class QueryResponse(BaseModel, Generic[T]):
    query: str
    value: str = Field(description="The input, normalized")
    at: datetime | None
    answer: AnswerOut[T] | None = Field(description="The best answer, or null when no provider found one")
    answers: list[AnswerOut[T]] = Field(description="Every distinct answer, best first")
    conflict: bool = Field(description="True when the top answers are too close to call")
    details: dict[str, Any] = Field(default_factory=dict, description="Strategy extras (votes, group members)")
    providers: list[ProviderStatusOut]
    took_ms: float


class QueryInfo(BaseModel):
    name: str
    description: str
    input: str
    input_expected: str
    accepts_at: bool
    merge: str
    cache_ttl_s: float
    sensitivity: str
    providers: list[str]
    output_schema: dict[str, Any]


class QuotaOut(BaseModel):
    requests: int = Field(description="Calls allowed per period")
    per_s: float = Field(description="The period, in seconds")
    remaining: int = Field(description="Calls left now (shared by every replica when Redis is configured)")


class ProviderInfo(BaseModel):
    name: str
    type: str
    queries: list[str]
    healthy: bool
    health: str
    egress: str
    max_tlp: str
    weight: float
    timeout_s: float
    quota: list[QuotaOut] = Field(default_factory=list, description="Each rate-limit bucket and what is left")
    paused_s: float = Field(default=0.0, description="Seconds left of a pause after an upstream 429")
    circuit: Literal["closed", "open", "half_open"] = Field(
        default="closed", description="open: skipped after consecutive failures until the cool-down ends"
    )


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def request_model(query: Query[Any]) -> type[QueryRequestBase]:
    kind = query.input.value
    fields: dict[str, Any] = {
        "value": (
            str,
            Field(
                min_length=1,
                max_length=MAX_VALUE_LENGTH,
                description=f"Input kind '{kind}': {EXPECTED[query.input]}",
                examples=[EXAMPLES[kind]],
            ),
        )
    }
    if query.accepts_at:
        fields["at"] = (
            AwareDatetime | None,
            Field(default=None, description="Point in time (RFC 3339) to answer for; default now"),
        )
    model = create_model(f"{_camel(query.name)}Request", __base__=QueryRequestBase, **fields)
    return model


def response_model(query: Query[Any]) -> type[QueryResponse[Any]]:
    return create_model(f"{_camel(query.name)}Response", __base__=QueryResponse[query.output])  # type: ignore[name-defined]
