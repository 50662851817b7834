"""Identity queries: who a user is, who they report to, what they belong to."""

from __future__ import annotations

from positron.queries.models import Person, UserInfo

from positron.inputs import InputKind
from positron.query import MergeStrategy, Query, Sensitivity


def _username(value: Person | UserInfo) -> str:
    return value.username.casefold()


USER_INFO: Query[UserInfo] = Query(
    name="USER_INFO",
    description="Directory facts about a user: name, title, department, location, email, phone, enabled.",
    input=InputKind.USERNAME,
    output=UserInfo,
    merge=MergeStrategy.RECORD,
    cache_ttl_s=3600,
    sensitivity=Sensitivity.PERSONAL,
    key=_username,
    half_life_s=30 * 86_400,
)

USER_MANAGER: Query[Person] = Query(
    name="USER_MANAGER",
    description="The user's manager.",
    input=InputKind.USERNAME,
    output=Person,
    merge=MergeStrategy.RECORD,
    cache_ttl_s=3600,
    sensitivity=Sensitivity.PERSONAL,
    key=_username,
    half_life_s=30 * 86_400,
)

USER_GROUPS: Query[list[str]] = Query(
    name="USER_GROUPS",
    description="The groups a user belongs to (nested membership where the source supports it).",
    input=InputKind.USERNAME,
    output=list[str],
    merge=MergeStrategy.UNION,
    cache_ttl_s=900,
    sensitivity=Sensitivity.PERSONAL,
    half_life_s=30 * 86_400,
)
