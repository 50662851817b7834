"""On-call queries."""

from __future__ import annotations

from positron.queries.models import OnCall

from positron.inputs import InputKind
from positron.query import MergeStrategy, Query, Sensitivity


def _oncall_key(value: OnCall) -> str:
    return f"{value.escalation_level}:{(value.email or value.user).casefold()}"


TEAM_ONCALL: Query[OnCall] = Query(
    name="TEAM_ONCALL",
    description="Who is on call for a team (at `at`, or now); level 1 ranks first.",
    input=InputKind.TEAM,
    output=OnCall,
    merge=MergeStrategy.RANKED,
    cache_ttl_s=120,
    accepts_at=True,
    sensitivity=Sensitivity.PERSONAL,
    key=_oncall_key,
    half_life_s=3600,
)
