"""MISP: HASH_REPUTATION, IP_REPUTATION, DOMAIN_REPUTATION and URL_REPUTATION from ``POST /attributes/restSearch``.

One search per lookup for the value among the attribute types of the query (``ip-src``, ``ip-dst``, ``domain|ip``,
... for an IP), with the event's context, its tags and the sightings; the API key travels in the ``Authorization``
header only. Each matching attribute is judged:

    a false-positive sighting majority, or an allowlist tag (false-positive:*, ...)  → harmless
    to_ids set (the community says: detect on it)                                 → malicious
    otherwise                                                                     → suspicious

and the answer sums them: the verdict is *harmless* when any attribute is cleared that way (a local decision
overrides), else the most severe; ``malicious``/``suspicious``/``harmless`` count the attributes, ``label`` is the
event's ``info``, ``link`` the event (``{base_url}/events/view/{id}``), confidence comes from the event's threat
level (high 0.95 … undefined 0.6) plus 0.05 per positive sighting (at most +0.1) — 1.0 for a cleared attribute,
which is a recorded decision — and ``observed_at`` is the latest
of the attribute's ``last_seen``, its sightings and its ``timestamp``.

**TLP ceiling.** Attributes whose own or event tags say a TLP above ``tlp_ceiling`` (default amber; untagged ones
count as ``untagged_tlp``) are left out of the answer: the instance's sharing rules decide what Positron may pass
on, whatever the caller's clearance.

A MISP is usually in-house, so the type is ``egress: internal`` by default; set ``egress: external`` for a
community instance run by others (internal values are then never sent to it).

Errors: 401/403 (MISP's "Authentication failed") → ProviderAuthError; 429 (a role's rate limit) →
ProviderRateLimited with Retry-After; 5xx → ProviderUnavailable; anything unexpected → BadResponse.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, get_args

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
    HttpSource,
    Lookup,
    ProviderConfig,
    ProviderError,
    Secret,
    Tlp,
    answers,
    parse_tlp,
    raise_for_status,
    tlp_rank,
)

ATTRIBUTE_TYPES: dict[str, tuple[str, ...]] = {
    HASH_REPUTATION.name: ("md5", "sha1", "sha256", "filename|md5", "filename|sha1", "filename|sha256"),
    IP_REPUTATION.name: ("ip-src", "ip-dst", "ip-src|port", "ip-dst|port", "domain|ip"),
    DOMAIN_REPUTATION.name: ("domain", "hostname", "domain|ip"),
    URL_REPUTATION.name: ("url", "uri", "link"),
}
THREAT_CONFIDENCE = {"1": 0.95, "2": 0.85, "3": 0.7, "4": 0.6}  # MISP threat_level_id: high, medium, low, undefined
SIGHTING_BONUS, MAX_SIGHTING_BONUS = 0.05, 0.1
SIGHTING, FALSE_POSITIVE = "0", "1"  # MISP sighting types (2 = expiration)
_SEVERITY = {Verdict.MALICIOUS: 3, Verdict.SUSPICIOUS: 2, Verdict.HARMLESS: 1, Verdict.UNKNOWN: 0}


class MispConfig(ProviderConfig):
    api_key: Secret = Field(description="A MISP auth key, sent only in the Authorization header")
    base_url: BaseUrl = Field(description="The MISP root, e.g. https://misp.corp.example")
    verify_tls: bool = Field(default=True, description="Check the server's certificate")
    tlp_ceiling: Tlp = Field(default="amber", description="Attributes tagged above this TLP are never passed on")
    untagged_tlp: Tlp = Field(default="green", description="The TLP of attributes and events without a TLP tag")
    allowlist_tags: list[str] = Field(
        default_factory=lambda: ["false-positive:*", "allowlist", "whitelist"],
        description="Tags (glob patterns) that clear an attribute: it answers harmless",
    )
    max_attributes: int = Field(default=50, ge=1, le=1000, description="Attributes read per lookup (one page)")
    published_only: bool = Field(default=False, description="Only attributes of published events")

    @field_validator("tlp_ceiling", "untagged_tlp", mode="before")
    @classmethod
    def _tlp(cls, value: Any) -> Any:
        return parse_tlp(value)


@dataclass(frozen=True, slots=True)
class Judged:
    verdict: Verdict
    confidence: float
    seen: datetime | None
    event_id: str
    info: str | None


class Misp(HttpProvider[MispConfig]):
    type_name: ClassVar[str] = "misp"
    Config: ClassVar[type[ProviderConfig]] = MispConfig

    def http_source(self) -> HttpSource:
        return HttpSource(
            self.config.base_url,
            headers={
                "Authorization": self.config.api_key.get_secret_value(),
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
            timeout_s=self.config.timeout_s,
            max_connections=self.config.max_concurrency,
            ssl=None if self.config.verify_tls else False,
        )

    async def health(self) -> Health:
        """``GET /servers/getVersion``: the key works and the instance answers."""
        try:
            response = await self.http.get("/servers/getVersion")
            raise_for_status(response)
            version = response.json().get("version") if isinstance(response.json(), dict) else None
        except ProviderError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=True, detail=f"MISP {version or '(unknown version)'} at {self.http.label}")

    @answers(HASH_REPUTATION)
    async def hash_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        return await self._reputation(lookup)

    @answers(IP_REPUTATION)
    async def ip_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        return await self._reputation(lookup)

    @answers(DOMAIN_REPUTATION)
    async def domain_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        return await self._reputation(lookup)

    @answers(URL_REPUTATION)
    async def url_reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        return await self._reputation(lookup)

    async def _reputation(self, lookup: Lookup) -> list[Answer[Reputation]]:
        attributes = await self._search(lookup.value, ATTRIBUTE_TYPES[lookup.query.name])
        judged = [self._judge(a) for a in attributes if self._shareable(a)]
        return [self._answer(judged)] if judged else []

    async def _search(self, value: str, types: tuple[str, ...]) -> list[dict[str, Any]]:
        body: dict[str, Any] = {
            "returnFormat": "json",
            "value": value,
            "type": list(types),
            "includeEventTags": True,
            "includeSightings": True,
            "includeContext": True,
            "deleted": False,
            "limit": self.config.max_attributes,
            "page": 1,
        }
        if self.config.published_only:
            body["published"] = True
        response = await self.http.request("POST", "/attributes/restSearch", json_body=body)
        raise_for_status(response, "on /attributes/restSearch")
        doc = response.json()
        found = doc.get("response", {}).get("Attribute") if isinstance(doc, dict) else None
        if not isinstance(found, list) or not all(isinstance(a, dict) for a in found):
            raise BadResponse(f"{self.http.label}: restSearch answered without a response.Attribute list")
        return found

    # --- judging ---

    def _shareable(self, attribute: dict[str, Any]) -> bool:
        """False when the attribute's (or its event's) TLP is above the instance's ceiling."""
        ranks = [tlp_rank(level) for tag in _tags(attribute) if (level := _tlp_of(tag)) is not None]
        rank = max(ranks) if ranks else tlp_rank(self.config.untagged_tlp)
        return rank <= tlp_rank(self.config.tlp_ceiling)

    def _judge(self, attribute: dict[str, Any]) -> Judged:
        event = attribute.get("Event") if isinstance(attribute.get("Event"), dict) else {}
        assert isinstance(event, dict)
        sightings = [s for s in attribute.get("Sighting") or [] if isinstance(s, dict)]
        positive = sum(1 for s in sightings if str(s.get("type", SIGHTING)) == SIGHTING)
        false_positive = sum(1 for s in sightings if str(s.get("type")) == FALSE_POSITIVE)
        cleared = any(
            fnmatch.fnmatch(t.lower(), p.lower()) for t in _tags(attribute) for p in self.config.allowlist_tags
        )
        if cleared or false_positive > positive:
            verdict = Verdict.HARMLESS
        elif attribute.get("to_ids") in (True, "1", 1):
            verdict = Verdict.MALICIOUS
        else:
            verdict = Verdict.SUSPICIOUS
        base = THREAT_CONFIDENCE.get(str(event.get("threat_level_id", "4")), THREAT_CONFIDENCE["4"])
        confidence = min(1.0, base + min(MAX_SIGHTING_BONUS, SIGHTING_BONUS * positive))
        if verdict is Verdict.HARMLESS:
            confidence = 1.0  # a recorded decision, not the event's threat estimate
        seen = max(
            (
                t
                for t in (
                    _time(attribute.get("last_seen")),
                    _time(attribute.get("timestamp")),
                    *(_time(s.get("date_sighting")) for s in sightings),
                )
                if t is not None
            ),
            default=None,
        )
        event_id = str(attribute.get("event_id") or event.get("id") or "")
        info = event.get("info") if isinstance(event.get("info"), str) else None
        return Judged(verdict, confidence, seen, event_id, info)

    def _answer(self, judged: list[Judged]) -> Answer[Reputation]:
        cleared = [j for j in judged if j.verdict is Verdict.HARMLESS]
        top = max(cleared or judged, key=lambda j: (_SEVERITY[j.verdict], j.confidence, j.event_id))
        verdicts = [j.verdict for j in judged]
        link = f"{self.config.base_url}/events/view/{top.event_id}" if top.event_id.isdigit() else None
        reputation = Reputation(
            verdict=top.verdict,
            malicious=verdicts.count(Verdict.MALICIOUS),
            suspicious=verdicts.count(Verdict.SUSPICIOUS),
            harmless=verdicts.count(Verdict.HARMLESS),
            total=len(judged),
            label=top.info,
            link=link,
            allowlisted=bool(cleared),
        )
        seen = max((j.seen for j in judged if j.seen is not None), default=None)
        return Answer(reputation, top.confidence, seen, link)


def _tags(attribute: dict[str, Any]) -> list[str]:
    """The attribute's tags and its event's (with includeEventTags MISP may give them in either place)."""
    event = attribute.get("Event")
    holders = [attribute.get("Tag"), event.get("Tag") if isinstance(event, dict) else None]
    return [
        t["name"]
        for tags in holders
        if isinstance(tags, list)
        for t in tags
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    ]


def _tlp_of(tag: str) -> Tlp | None:
    name = tag.strip().lower()
    if not name.startswith("tlp:"):
        return None
    level = parse_tlp(name.removeprefix("tlp:").replace("+strict", ""))
    return next((known for known in get_args(Tlp) if known == level), None)


def _time(value: Any) -> datetime | None:
    """MISP times: epoch seconds as a string (timestamp, date_sighting) or ISO 8601 (first_seen/last_seen)."""
    if value in (None, "", "0", 0):
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
