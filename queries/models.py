"""Typed output models of the standard queries (the verdict vocabulary is the core's: ``positron.verdict``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from positron.verdict import Reputation, Verdict


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Model):
    username: str = Field(description="Normalized account name (sAMAccountName / uid), lower case")
    display_name: str | None = None
    email: str | None = None
    title: str | None = None


class UserInfo(_Model):
    username: str
    display_name: str | None = None
    email: str | None = None
    title: str | None = None
    department: str | None = None
    company: str | None = None
    location: str | None = None
    phone: str | None = None
    enabled: bool | None = Field(default=None, description="False when the account is disabled or has expired")
    expires: datetime | None = Field(
        default=None, description="When the account expires (expired if in the past); null: never, or not known"
    )
    manager: str | None = Field(default=None, description="The manager's username")


class OnCall(_Model):
    user: str = Field(description="Display name of the person on call")
    email: str | None = None
    escalation_level: int = Field(default=1, ge=1)
    start: datetime | None = Field(default=None, description="Shift start; null for a permanent assignment")
    end: datetime | None = None


__all__ = ["OnCall", "Person", "Reputation", "UserInfo", "Verdict"]
