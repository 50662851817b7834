"""AbuseIPDB API v2: IP_REPUTATION from ``GET /api/v2/check?ipAddress=...&maxAgeInDays=N``.

The key travels in the ``Key`` header only. ``data.abuseConfidenceScore`` (0–100, AbuseIPDB's own belief that the
address is abusive, from reports decayed by age) becomes the verdict:

    isWhitelisted (AbuseIPDB's own allowlist)     → harmless
    score ≥ malicious_at (default 75)              → malicious
    score ≥ suspicious_at (default 25)             → suspicious
    reported, but below suspicious_at              → unknown (old or disputed reports say little)
    never reported (totalReports 0)                → no data

Confidence grows with the number of distinct reporters (0.5 + 0.05 each, at most 1.0): one user's report is weak
evidence, fifty users' are strong. ``observed_at`` is ``lastReportedAt``; the link is the public report page.
The counts follow the verdict (``malicious: 1`` for a malicious verdict, ``total: 1``): AbuseIPDB is one source,
however many people reported to it.

Errors (AbuseIPDB's ``{"errors": [{"detail", "status"}]}``): 401/403 → ProviderAuthError; 422 (an address it
refuses) → UnsupportedInput; 429 → ProviderRateLimited with Retry-After (or X-RateLimit-Reset); 5xx →
ProviderUnavailable. AbuseIPDB is an external service: ``egress: external`` (internal addresses are never sent),
and the free plan's documented quota — 1,000 checks a day — is the default rate limit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from positron.queries import IP_REPUTATION, Reputation, Verdict
from pydantic import Field, model_validator

from positron.provider import (
    Answer,
    BadResponse,
    BaseUrl,
    Health,
    HttpProvider,
    HttpSource,
    Lookup,
    ProviderConfig,
    ProviderError,
    RateLimit,
    Secret,
    UnsupportedInput,
    answers,
    status_error,
)

FREE_PLAN_LIMITS = (RateLimit(requests=1000, per_s=86_400),)
REPORT_URL = "https://www.abuseipdb.com/check/{ip}"
HEALTH_PROBE_IP = "127.0.0.1"  # AbuseIPDB answers it (isPublic false) without reports


class AbuseIpdbConfig(ProviderConfig):
    api_key: Secret = Field(description="AbuseIPDB API key, sent only in the Key header")
    base_url: BaseUrl = Field(default="https://api.abuseipdb.com", description="API root, without /api/v2")
    max_age_days: int = Field(default=90, ge=1, le=365, description="Reports older than this are not counted")
    malicious_at: int = Field(default=75, ge=1, le=100, description="abuseConfidenceScore for a malicious verdict")
    suspicious_at: int = Field(default=25, ge=1, le=100, description="abuseConfidenceScore for a suspicious verdict")
    egress: Literal["internal", "external"] = Field(default="external", description="A third-party service")
    rate_limits: list[RateLimit] = Field(
        default_factory=lambda: list(FREE_PLAN_LIMITS),
        description="The free plan allows 1,000 checks a day; paid plans configure more",
    )

    @model_validator(mode="after")
    def _ordered(self) -> AbuseIpdbConfig:
        if self.suspicious_at > self.malicious_at:
            raise ValueError("suspicious_at must not be above malicious_at")
        return self


class AbuseIpdb(HttpProvider[AbuseIpdbConfig]):
    type_name: ClassVar[str] = "abuseipdb"
    Config: ClassVar[type[ProviderConfig]] = AbuseIpdbConfig

    def http_source(self) -> HttpSource:
        return HttpSource(
            self.config.base_url,
            headers={"Key": self.config.api_key.get_secret_value(), "Accept": "application/json"},
            timeout_s=self.config.timeout_s,
            max_connections=self.config.max_concurrency,
        )

    async def health(self) -> Health:
        """One check of a loopback address: proves the key (it uses one check of the quota)."""
        try:
            await self._check(HEALTH_PROBE_IP)
        except ProviderError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=True, detail="API key accepted")

    @answers(IP_REPUTATION)
    async def ip_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        data = await self._check(lookup.value)
        answer = to_answer(data, lookup.value, self.config)
        return [answer] if answer is not None else []

    async def _check(self, ip: str) -> dict[str, Any]:
        params = {"ipAddress": ip, "maxAgeInDays": str(self.config.max_age_days)}
        response = await self.http.get("/api/v2/check", params=params)
        if response.status == 422:
            raise UnsupportedInput(f"{response.label}: HTTP 422: the address was refused")
        if response.status != 200:
            raise status_error(response, "on /api/v2/check")
        doc = response.json()
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("abuseConfidenceScore"), int):
            raise BadResponse(f"{response.label}: /api/v2/check answered without data.abuseConfidenceScore")
        return data


def to_answer(data: dict[str, Any], ip: str, config: AbuseIpdbConfig) -> Answer[Reputation] | None:
    score: int = data["abuseConfidenceScore"]
    reports = _count(data.get("totalReports"))
    users = _count(data.get("numDistinctUsers"))
    if data.get("isWhitelisted") is True:
        verdict = Verdict.HARMLESS
    elif reports == 0:
        return None
    elif score >= config.malicious_at:
        verdict = Verdict.MALICIOUS
    elif score >= config.suspicious_at:
        verdict = Verdict.SUSPICIOUS
    else:
        verdict = Verdict.UNKNOWN
    link = REPORT_URL.format(ip=ip)
    reputation = Reputation(
        verdict=verdict,
        malicious=int(verdict is Verdict.MALICIOUS),
        suspicious=int(verdict is Verdict.SUSPICIOUS),
        harmless=int(verdict is Verdict.HARMLESS),
        undetected=int(verdict is Verdict.UNKNOWN),
        total=1,
        label=_label(data, score, reports),
        link=link,
        allowlisted=verdict is Verdict.HARMLESS,
    )
    confidence = 1.0 if verdict is Verdict.HARMLESS else min(1.0, 0.5 + 0.05 * users)
    return Answer(reputation, confidence, _time(data.get("lastReportedAt")), link)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _label(data: dict[str, Any], score: int, reports: int) -> str:
    what = "tor exit node, " if data.get("isTor") is True else ""
    return f"{what}abuse confidence {score}% ({reports} reports)"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
