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


Evidence = Literal["contains", "before", "ended", "after", "undated"]
EVIDENCE = (
    "How the evidence bears on `at` (or now): contains = a stated interval holds it, or the source saw the fact "
    "on both sides of it; before = last confirmed earlier, no known end; ended = held until before it; after = "
    "first valid later; undated = no time"
)


class SourceOut(BaseModel, Generic[T]):
    provider: str
    type: str
    value: T = Field(description="What this provider answered")
    confidence: float = Field(description="The provider's own confidence (0..1)")
    score: float = Field(description="weight × confidence × decay")
    observed_at: datetime | None = Field(description="When the source last saw it")
    source_ref: str | None = Field(description="Permalink or id at the source")
    valid_from: datetime | None = Field(default=None, description="When the fact began to hold, per the source")
    valid_to: datetime | None = Field(default=None, description="When it stopped holding (null: no known end)")
    evidence: Evidence = Field(default="undated", description=EVIDENCE)
    last_confirmed: datetime | None = Field(default=None, description="The confirmation nearest to `at` (or now)")
    weight: float = Field(default=1.0, description="The provider's configured trust for this query")
    decay: float = Field(default=1.0, description="2^(−age / half-life) of the evidence; ½ more if ended or after")
    current: bool = Field(
        default=True, description="This is the provider's value at `at`; false: another value from its history"
    )


class WhyOut(BaseModel):
    """Why an answer ranks where it does."""

    evidence: Evidence = Field(description=f"Of the best source counted. {EVIDENCE}")
    provider: str = Field(description="The best source counted")
    valid_from: datetime | None = Field(description="Its interval: the one that contains `at` when evidence=contains")
    valid_to: datetime | None
    last_confirmed: datetime | None
    age_s: float | None = Field(description="Seconds between `at` (or now) and that confirmation")
    score: float = Field(description="Uncalibrated: 1 − Π(1 − score) over the sources counted")
    providers: list[str] = Field(description="The sources counted (current values only, when there are any)")


class AnswerOut(BaseModel, Generic[T]):
    value: T
    confidence: float = Field(
        description="Probability that this is the right answer, calibrated on the ground-truth benchmark "
        "(docs/benchmarks.md); for union and verdict answers the uncalibrated score"
    )
    sources: list[SourceOut[T]]
    why: WhyOut | None = Field(default=None, description="The evidence and score behind the ranking")


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
    conflict: bool = Field(
        description="True when independent providers disagree about the value at `at` with comparable evidence"
    )
    conflict_providers: list[str] = Field(default_factory=list, description="The providers on both sides")
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
