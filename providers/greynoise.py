"""GreyNoise: IP_REPUTATION from the Community API (``GET /v3/community/{ip}``) or the Enterprise API
(``GET /v2/noise/context/{ip}``, then ``GET /v2/riot/{ip}`` when the address was not seen scanning).

GreyNoise knows two things about an address: whether it scans the internet ("noise", with a ``classification``)
and whether it belongs to a common business service (RIOT: Google, Microsoft, CDNs). Mapped onto verdicts:

    classification malicious                              → malicious   (confidence 0.85)
    classification unknown (mass scanning, intent unclear) → suspicious  (0.5)
    classification benign (a known research scanner)       → harmless    (0.8)
    RIOT (a business service; trust level 1 / 2)          → harmless    (0.9 / 0.7)
    not observed (community 404, enterprise seen: false)   → no data

``label`` is the actor or service name (and, enterprise, the first tags); ``link`` the visualizer page;
``observed_at`` ``last_seen``. The key goes in the ``key`` header (the community API also answers without one,
with a smaller quota). Errors: 401/403 → ProviderAuthError; 429 → ProviderRateLimited with Retry-After; 5xx →
ProviderUnavailable. GreyNoise is an external service: ``egress: external``; the default rate limits are the
documented community quota (50 lookups a day, about 50 a week); enterprise limits are per contract (none set).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from positron.queries import IP_REPUTATION, Reputation, Verdict
from pydantic import Field, model_validator

from positron.provider import (
    Answer,
    BadResponse,
    BaseUrl,
    Health,
    HttpProvider,
    HttpResponse,
    HttpSource,
    Lookup,
    ProviderConfig,
    ProviderError,
    RateLimit,
    Secret,
    answers,
    status_error,
)

COMMUNITY_LIMITS = (RateLimit(requests=50, per_s=86_400), RateLimit(requests=50, per_s=7 * 86_400))
VIZ = "https://viz.greynoise.io/ip/{ip}"
CLASSIFICATION = {
    "malicious": (Verdict.MALICIOUS, 0.85),
    "unknown": (Verdict.SUSPICIOUS, 0.5),
    "suspicious": (Verdict.SUSPICIOUS, 0.6),
    "benign": (Verdict.HARMLESS, 0.8),
}
RIOT_TRUST = {"1": 0.9, "2": 0.7}
HEALTH_PROBE_IP = "8.8.8.8"  # a RIOT address every plan knows


class GreyNoiseConfig(ProviderConfig):
    plan: Literal["community", "enterprise"] = Field(default="community", description="Which API to ask")
    api_key: Secret | None = Field(default=None, description="Required for enterprise; optional for community")
    base_url: BaseUrl = Field(default="https://api.greynoise.io", description="The API root")
    egress: Literal["internal", "external"] = Field(default="external", description="A third-party service")
    rate_limits: list[RateLimit] = Field(
        default_factory=lambda: list(COMMUNITY_LIMITS),
        description="The community quota (50 a day, about 50 a week); set your enterprise contract's limits",
    )

    @model_validator(mode="after")
    def _enterprise_needs_a_key(self) -> GreyNoiseConfig:
        if self.plan == "enterprise" and self.api_key is None:
            raise ValueError("api_key: the enterprise API needs a key")
        return self


class GreyNoise(HttpProvider[GreyNoiseConfig]):
    type_name: ClassVar[str] = "greynoise"
    Config: ClassVar[type[ProviderConfig]] = GreyNoiseConfig

    def http_source(self) -> HttpSource:
        headers = {"Accept": "application/json"}
        if self.config.api_key is not None:
            headers["key"] = self.config.api_key.get_secret_value()
        return HttpSource(
            self.config.base_url,
            headers=headers,
            timeout_s=self.config.timeout_s,
            max_connections=self.config.max_concurrency,
        )

    async def health(self) -> Health:
        """One lookup of a RIOT address (uses one lookup of the quota)."""
        try:
            await self._lookup(HEALTH_PROBE_IP)
        except ProviderError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=True, detail=f"{self.config.plan} API answers")

    @answers(IP_REPUTATION)
    async def ip_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        answer = await self._lookup(lookup.value)
        return [answer] if answer is not None else []

    async def _lookup(self, ip: str) -> Answer[Reputation] | None:
        if self.config.plan == "community":
            doc = await self._get(f"/v3/community/{ip}")
            return None if doc is None else community_answer(doc, ip)
        context = await self._get(f"/v2/noise/context/{ip}")
        if context is not None and context.get("seen") is True:
            return noise_answer(context, ip)
        riot = await self._get(f"/v2/riot/{ip}")
        return riot_answer(riot, ip) if riot is not None and riot.get("riot") is True else None

    async def _get(self, path: str) -> dict[str, Any] | None:
        response: HttpResponse = await self.http.get(path)
        if response.status == 404:
            return None  # the community API's "not observed"
        if response.status != 200:
            raise status_error(response, f"on {path.rsplit('/', 1)[0]}")
        doc = response.json()
        if not isinstance(doc, dict):
            raise BadResponse(f"{response.label}: {path.rsplit('/', 1)[0]} answered with something not an object")
        return doc


def community_answer(doc: dict[str, Any], ip: str) -> Answer[Reputation] | None:
    if doc.get("riot") is True:
        verdict, confidence = Verdict.HARMLESS, 0.9
    elif doc.get("noise") is True:
        verdict, confidence = CLASSIFICATION.get(str(doc.get("classification")), (Verdict.SUSPICIOUS, 0.5))
    else:
        return None
    given = doc.get("link")
    link = given if isinstance(given, str) and given else VIZ.format(ip=ip)
    return _answer(verdict, confidence, _name(doc.get("name")), link, doc.get("last_seen"))


def noise_answer(doc: dict[str, Any], ip: str) -> Answer[Reputation]:
    verdict, confidence = CLASSIFICATION.get(str(doc.get("classification")), (Verdict.SUSPICIOUS, 0.5))
    tags = [t for t in doc.get("tags") or [] if isinstance(t, str)][:3]
    label = ", ".join(x for x in [_name(doc.get("actor")), *tags] if x) or None
    return _answer(verdict, confidence, label, VIZ.format(ip=ip), doc.get("last_seen"))


def riot_answer(doc: dict[str, Any], ip: str) -> Answer[Reputation]:
    confidence = RIOT_TRUST.get(str(doc.get("trust_level")), 0.6)
    return _answer(Verdict.HARMLESS, confidence, _name(doc.get("name")), VIZ.format(ip=ip), doc.get("last_updated"))


def _answer(verdict: Verdict, confidence: float, label: str | None, link: str, seen: Any) -> Answer[Reputation]:
    reputation = Reputation(
        verdict=verdict,
        malicious=int(verdict is Verdict.MALICIOUS),
        suspicious=int(verdict is Verdict.SUSPICIOUS),
        harmless=int(verdict is Verdict.HARMLESS),
        total=1,
        label=label,
        link=link,
    )
    return Answer(reputation, confidence, _time(seen), link)


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value and value.lower() != "unknown" else None


def _time(value: Any) -> datetime | None:
    """``2026-11-30`` (a date) or a full ISO 8601 time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
