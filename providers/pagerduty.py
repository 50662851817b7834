"""PagerDuty: who is on call for a team (TEAM_ONCALL), from the REST API v2 ``GET /oncalls``.

A team name maps, in config, to PagerDuty escalation policy ids and/or schedule ids. PagerDuty ANDs its
filters, so policies and schedules are asked in separate requests (each list ORed within itself) and the
results joined. Each on-call entry becomes one answer: level 1 has confidence 1.0, each further level 0.1 less
(at least 0.5), so the first responder ranks first. The same user at the same level is answered once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from positron.queries import TEAM_ONCALL, OnCall
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from yarl import URL

from positron.provider import (
    Answer,
    BadResponse,
    BaseUrl,
    Health,
    HttpProvider,
    HttpResponse,
    HttpSource,
    InvalidInput,
    Lookup,
    ProviderAuthError,
    ProviderConfig,
    ProviderError,
    Secret,
    answers,
    normalize_team,
    status_error,
)

log = logging.getLogger(__name__)

ACCEPT = "application/vnd.pagerduty+json;version=2"
PAGE_LIMIT = 100  # the largest page PagerDuty serves
CONFIDENCE_STEP = 0.1  # confidence lost per escalation level below the first
MIN_CONFIDENCE = 0.5

PagerDutyId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class TeamTargets(BaseModel):
    """Where a team's on-calls live in PagerDuty."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    escalation_policy_ids: list[PagerDutyId] = Field(default_factory=list)
    schedule_ids: list[PagerDutyId] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_targets(self) -> TeamTargets:
        if not self.escalation_policy_ids and not self.schedule_ids:
            # An unfiltered /oncalls lists every on-call of the account: never send one.
            raise ValueError("give escalation_policy_ids and/or schedule_ids")
        return self


class PagerDutyConfig(ProviderConfig):
    api_key: Secret = Field(description="A REST API key (read-only is enough)")
    base_url: BaseUrl = Field(default="https://api.pagerduty.com", description="The REST API root")
    teams: dict[str, TeamTargets] = Field(
        default_factory=dict, description="Team name → escalation policy ids and/or schedule ids"
    )
    max_pages: int = Field(
        default=10, ge=1, le=100, description="Pages of 100 on-calls read at most per request"
    )
    egress: Literal["internal", "external"] = Field(
        default="external", description="PagerDuty is a third-party service"
    )

    @field_validator("teams", mode="before")
    @classmethod
    def _normalize_teams(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        teams: dict[str, Any] = {}
        for raw, targets in value.items():
            try:
                name = normalize_team(str(raw))
            except InvalidInput as exc:
                raise ValueError(exc.message) from None
            if name in teams:
                raise ValueError(
                    f"team {name!r} is listed twice (names compare case- and space-insensitively)"
                )
            teams[name] = targets
        return teams


class PagerDuty(HttpProvider[PagerDutyConfig]):
    type_name: ClassVar[str] = "pagerduty"
    Config: ClassVar[type[ProviderConfig]] = PagerDutyConfig

    def http_source(self) -> HttpSource:
        return HttpSource(
            self.config.base_url,
            label=f"PagerDuty at {URL(self.config.base_url).host}",
            headers={
                "Authorization": f"Token token={self.config.api_key.get_secret_value()}",
                "Accept": ACCEPT,
                "Content-Type": "application/json",
            },
            timeout_s=self.config.timeout_s,
        )

    async def health(self) -> Health:
        try:
            body = await self._get("/abilities", [])
        except ProviderError as exc:
            return Health(ok=False, detail=exc.message)
        abilities = body.get("abilities") if isinstance(body, dict) else None
        if not isinstance(abilities, list):
            return Health(ok=False, detail=f"{self.http.label}: malformed /abilities response")
        return Health(
            ok=True, detail=f"{self.http.label}: API key accepted, {len(abilities)} abilities"
        )

    @answers(TEAM_ONCALL)
    async def team_oncall(self, lookup: Lookup) -> list[Answer[OnCall]]:
        targets = self.config.teams.get(lookup.value)
        if targets is None:
            return []
        entries: list[Any] = []
        if targets.escalation_policy_ids:
            entries += await self._oncalls(
                "escalation_policy_ids[]", targets.escalation_policy_ids, lookup.at
            )
        if targets.schedule_ids:
            entries += await self._oncalls("schedule_ids[]", targets.schedule_ids, lookup.at)
        return self._answers(entries, lookup.at)

    # --- HTTP ---

    async def _oncalls(self, filter_name: str, ids: list[str], at: datetime | None) -> list[Any]:
        """Every page of ``GET /oncalls`` for these ids (at ``at``, or now), up to ``max_pages``."""
        params = [(filter_name, i) for i in ids]
        params += [("include[]", "users"), ("time_zone", "UTC"), ("limit", str(PAGE_LIMIT))]
        if at is not None:
            since = at.astimezone(UTC).replace(microsecond=0)
            params += [("since", _iso(since)), ("until", _iso(since + timedelta(seconds=1)))]
        found: list[Any] = []
        offset = 0
        for _ in range(self.config.max_pages):
            body = await self._get("/oncalls", [*params, ("offset", str(offset))])
            page, limit, more = self._page(body)
            found += page
            if not more or not page:
                return found
            offset += limit
        log.warning("%s: on-calls truncated after %d pages", self.name, self.config.max_pages)
        return found

    def _page(self, body: Any) -> tuple[list[Any], int, bool]:
        oncalls = body.get("oncalls") if isinstance(body, dict) else None
        if not isinstance(oncalls, list):
            raise BadResponse(f"{self.http.label}: response has no 'oncalls' list")
        limit = body.get("limit")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            limit = len(oncalls)
        return oncalls, limit, body.get("more") is True

    async def _get(self, path: str, params: list[tuple[str, str]]) -> Any:
        response = await self.http.get(path, params=params)
        if response.status != 200:
            raise self._http_error(response)
        return response.json()

    def _http_error(self, response: HttpResponse) -> ProviderError:
        code = response.error_code
        detail = f"error code {code}" if code is not None else ""
        if response.status == 403:
            where = f"{self.http.label}: HTTP 403" + (f", {detail}" if detail else "")
            return ProviderAuthError(f"{where}: the API key lacks access to on-calls")
        return status_error(response, detail)

    # --- answers ---

    def _answers(self, entries: list[Any], at: datetime | None) -> list[Answer[OnCall]]:
        observed = at.astimezone(UTC) if at is not None else datetime.now(UTC)
        seen: set[str] = set()
        result: list[Answer[OnCall]] = []
        for raw in entries:
            oncall, user_key, ref = self._parse_entry(raw)
            if at is not None and not _covers(oncall, observed):
                continue  # the 1-second window also catches shifts that begin within it
            key = f"{oncall.escalation_level}:{user_key}"
            if key in seen:
                continue
            seen.add(key)
            end = oncall.end if oncall.end is None or oncall.start is None else max(oncall.end, oncall.start)
            conf = _confidence(oncall.escalation_level)
            result.append(Answer(oncall, conf, observed, ref, valid_from=oncall.start, valid_to=end))  # the shift
        result.sort(key=lambda a: (a.value.escalation_level, a.value.user.casefold()))
        return result

    def _parse_entry(self, raw: Any) -> tuple[OnCall, str, str | None]:
        """An on-call entry → (its OnCall, a key naming the user, a link)."""
        user = raw.get("user") if isinstance(raw, dict) else None
        level = raw.get("escalation_level") if isinstance(raw, dict) else None
        if not isinstance(user, dict) or not isinstance(level, int) or isinstance(level, bool) or level < 1:
            raise BadResponse(f"{self.http.label}: malformed on-call entry")
        name = _text(user.get("summary")) or _text(user.get("name"))
        if name is None:
            raise BadResponse(f"{self.http.label}: on-call entry without a user name")
        email = _text(user.get("email"))
        try:
            oncall = OnCall(
                user=name,
                email=email,
                escalation_level=level,
                start=_time(raw.get("start")),
                end=_time(raw.get("end")),
            )
        except ValueError as exc:
            raise BadResponse(f"{self.http.label}: malformed on-call start or end") from exc
        policy = raw.get("escalation_policy")
        ref = _text(user.get("html_url")) or (
            _text(policy.get("html_url")) if isinstance(policy, dict) else None
        )
        user_key = _text(user.get("id")) or (email or name).casefold()
        return oncall, user_key, ref


def _confidence(level: int) -> float:
    return max(MIN_CONFIDENCE, round(1.0 - CONFIDENCE_STEP * (level - 1), 6))


def _covers(oncall: OnCall, at: datetime) -> bool:
    return (oncall.start is None or oncall.start <= at) and (oncall.end is None or oncall.end > at)


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _time(value: Any) -> datetime | None:
    """An ISO 8601 time from PagerDuty (``Z`` or an offset) → aware UTC; null stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("not a string")
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
