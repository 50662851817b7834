"""VirusTotal API v3: the reputation of file hashes, IP addresses, domains and URLs.

One ``GET /api/v3/{files|ip_addresses|domains|urls}/{id}`` per lookup (a URL's id is its normalized form in
unpadded base64url, as VirusTotal documents), authenticated with the ``x-apikey`` header (the
key never goes into a URL, a log line or an error message). ``data.attributes.last_analysis_stats`` becomes a
``Reputation``; VirusTotal's ``{"error": {"code": ...}}`` answers become positron errors:

    404 NotFoundError, 400 NotAvailableYet       → []  (no data)
    401 / 403                                    → ProviderAuthError
    429 QuotaExceededError / TooManyRequests     → ProviderRateLimited (retry_after from Retry-After)
    5xx                                          → ProviderUnavailable (transient)
    other 400                                    → UnsupportedInput
    bad JSON, unexpected shape, 3xx, other codes → BadResponse
    connection refused / reset                   → ProviderUnavailable;  timeout → ProviderTimeout

VirusTotal is an external service: internal values (non-public addresses, internal names; the core's one rule set,
``positron.security.egress.internal_reason``, plus this instance's ``internal_domains``; a URL by its host) are
never sent (``skip_reason``; the handlers refuse them too).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from positron.queries import (
    DOMAIN_REPUTATION,
    HASH_REPUTATION,
    IP_REPUTATION,
    URL_REPUTATION,
    Reputation,
    Verdict,
)
from pydantic import Field, field_validator

from positron.provider import (
    Answer,
    BadResponse,
    BaseUrl,
    Health,
    HttpProvider,
    HttpResponse,
    HttpSource,
    Lookup,
    ProviderAuthError,
    ProviderConfig,
    ProviderError,
    ProviderRateLimited,
    RateLimit,
    Secret,
    UnsupportedInput,
    answers,
    internal_reason,
    status_error,
)

GUI_URL = "https://www.virustotal.com/gui"
EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
PUBLIC_API_LIMITS = (RateLimit(requests=4, per_s=60), RateLimit(requests=500, per_s=86_400))
CONFIDENCE_FLOOR = 0.3
ENGINES_FOR_FULL_CONFIDENCE = 20

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DOMAIN_SUFFIX = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")


@dataclass(frozen=True, slots=True)
class _Kind:
    collection: str  # the API collection: /api/v3/<collection>/<id>
    object_type: str  # data.type of its objects
    gui: str  # the GUI path: /gui/<gui>/<id>


FILES = _Kind("files", "file", "file")
IP_ADDRESSES = _Kind("ip_addresses", "ip_address", "ip-address")
DOMAINS = _Kind("domains", "domain", "domain")
URLS = _Kind("urls", "url", "url")


def url_id(url: str) -> str:
    """VirusTotal's identifier for a URL: the URL in base64url without ``=`` padding."""
    return base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


class VirusTotalConfig(ProviderConfig):
    api_key: Secret = Field(description="VirusTotal API key, sent only in the x-apikey header")
    base_url: BaseUrl = Field(default="https://www.virustotal.com", description="API root, without /api/v3")
    malicious_threshold: int = Field(
        default=3, ge=1, description="Engines that must say malicious for a malicious verdict"
    )
    internal_domains: list[str] = Field(
        default_factory=list, description="Domain suffixes never sent to VirusTotal, e.g. corp.example"
    )
    egress: Literal["internal", "external"] = Field(
        default="external", description="VirusTotal is a third-party service"
    )
    rate_limits: list[RateLimit] = Field(
        default_factory=lambda: list(PUBLIC_API_LIMITS),
        description="The public API allows 4 requests/60 s and 500/day; premium keys configure more",
    )

    @field_validator("internal_domains")
    @classmethod
    def _check_internal_domains(cls, value: list[str]) -> list[str]:
        suffixes = [item.strip().strip(".").casefold() for item in value]
        for suffix in suffixes:
            if not _DOMAIN_SUFFIX.match(suffix):
                raise ValueError(f"{suffix!r} is not a domain suffix")
        return suffixes


class VirusTotal(HttpProvider[VirusTotalConfig]):
    type_name = "virustotal"
    Config: ClassVar[type[ProviderConfig]] = VirusTotalConfig

    def http_source(self) -> HttpSource:
        return HttpSource(
            self.config.base_url,
            headers={"x-apikey": self.config.api_key.get_secret_value(), "Accept": "application/json"},
            timeout_s=self.config.timeout_s,
            max_connections=self.config.max_concurrency,
        )

    async def health(self) -> Health:
        """One authenticated lookup of the EICAR test file (uses one request of the quota)."""
        try:
            await self._get(f"/api/v3/files/{EICAR_SHA256}", FILES)
        except ProviderAuthError:
            return Health(ok=False, detail="authentication failed")
        except ProviderRateLimited:
            return Health(ok=False, detail="rate limited: the API key's quota is exhausted")
        except ProviderError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=True, detail="authenticated")

    def skip_reason(self, lookup: Lookup) -> str | None:
        """The core's egress rules (and this instance's internal_domains) decide what may leave."""
        reason = internal_reason(lookup.query.input, lookup.value, self.config.internal_domains)
        return None if reason is None else f"{reason} not sent to an external service"

    @answers(HASH_REPUTATION)
    async def hash_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        return await self._reputation(lookup, FILES)

    @answers(IP_REPUTATION)
    async def ip_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        return await self._reputation(lookup, IP_ADDRESSES)

    @answers(DOMAIN_REPUTATION)
    async def domain_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        return await self._reputation(lookup, DOMAINS)

    @answers(URL_REPUTATION)
    async def url_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        return await self._reputation(lookup, URLS)

    async def _reputation(self, lookup: Lookup, kind: _Kind) -> list[Answer[Reputation]]:
        reason = self.skip_reason(lookup)
        if reason is not None:
            raise UnsupportedInput(reason)
        object_id = url_id(lookup.value) if kind is URLS else quote(lookup.value, safe="")
        data = await self._get(f"/api/v3/{kind.collection}/{object_id}", kind)
        if data is None:
            return []
        return [to_answer(data, kind, self.config.malicious_threshold)]

    async def _get(self, path: str, kind: _Kind) -> dict[str, Any] | None:
        """The ``data`` object at ``path``, or None when VirusTotal has no such object."""
        response = await self.http.get(path)
        if response.status == 200:
            return _parse_data(response.body, kind)
        _raise_for_status(response)
        return None


def _raise_for_status(response: HttpResponse) -> None:
    """Raise the positron error for a non-200 answer; return when it means "no such object"."""
    status, code = response.status, response.error_code
    shown = f"HTTP {status} {code}" if code else f"HTTP {status}"
    if (status, code) in ((404, "NotFoundError"), (400, "NotAvailableYet")):
        return
    if status in (401, 403):
        raise ProviderAuthError(f"virustotal refused the API key ({shown})")
    if status == 429:
        raise ProviderRateLimited(f"virustotal quota exceeded ({shown})", retry_after=response.retry_after)
    if status == 400:
        raise UnsupportedInput(f"virustotal refused the value ({shown})")
    if status >= 500:
        raise status_error(response, code or "")
    raise BadResponse(f"unexpected answer from virustotal ({shown}); check base_url")


def _parse_data(body: bytes, kind: _Kind) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        raise BadResponse("virustotal sent a body that is not JSON") from None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("attributes"), dict):
        raise BadResponse("virustotal sent JSON without a data.attributes object")
    if data.get("type") != kind.object_type or not isinstance(data.get("id"), str):
        raise BadResponse(f"virustotal sent an object that is not a {kind.object_type}")
    return data


def to_answer(data: dict[str, Any], kind: _Kind, malicious_threshold: int) -> Answer[Reputation]:
    """One ``data`` object of the API as an answer (``data.attributes`` and ``data.id`` were checked)."""
    attributes: dict[str, Any] = data["attributes"]
    stats = attributes.get("last_analysis_stats") or {}
    if not isinstance(stats, dict):
        raise BadResponse("virustotal sent last_analysis_stats that is not an object")
    malicious, suspicious, harmless, undetected = (
        _count(stats, name) for name in ("malicious", "suspicious", "harmless", "undetected")
    )
    total = malicious + suspicious + harmless + undetected
    if malicious >= malicious_threshold:
        verdict = Verdict.MALICIOUS
    elif malicious or suspicious:
        verdict = Verdict.SUSPICIOUS
    elif total:
        verdict = Verdict.HARMLESS
    else:
        verdict = Verdict.UNKNOWN
    link = f"{GUI_URL}/{kind.gui}/{_object_id(data, kind)}"
    reputation = Reputation(
        verdict=verdict,
        malicious=malicious,
        suspicious=suspicious,
        harmless=harmless,
        undetected=undetected,
        total=total,
        label=_label(attributes),
        link=link,
    )
    confidence = max(CONFIDENCE_FLOOR, min(1.0, total / ENGINES_FOR_FULL_CONFIDENCE))
    return Answer(reputation, confidence, _epoch(attributes.get("last_analysis_date")), link)


def _count(stats: dict[str, Any], name: str) -> int:
    value = stats.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadResponse(f"virustotal sent a last_analysis_stats.{name} that is not a count")
    return value


def _object_id(data: dict[str, Any], kind: _Kind) -> str:
    object_id: str = data["id"]
    if kind in (FILES, URLS) and not _SHA256.match(object_id):
        raise BadResponse(f"virustotal sent a {kind.object_type} id that is not a SHA-256")
    return quote(object_id, safe=":.")


def _label(attributes: dict[str, Any]) -> str | None:
    classification = attributes.get("popular_threat_classification")
    if isinstance(classification, dict):
        label = classification.get("suggested_threat_label")
        if isinstance(label, str) and label:
            return label
    name = attributes.get("meaningful_name")
    return name if isinstance(name, str) and name else None


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
