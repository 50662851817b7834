"""Typed output models of the standard queries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


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
    enabled: bool | None = Field(default=None, description="False when the account is disabled")
    manager: str | None = Field(default=None, description="The manager's username")


class Verdict(StrEnum):
    MALICIOUS = "malicious"
    SUSPICIOUS = "suspicious"
    HARMLESS = "harmless"
    UNKNOWN = "unknown"


class Reputation(_Model):
    verdict: Verdict
    malicious: int = Field(default=0, ge=0, description="Engines or sources that call it malicious")
    suspicious: int = Field(default=0, ge=0)
    harmless: int = Field(default=0, ge=0)
    undetected: int = Field(default=0, ge=0)
    total: int = Field(default=0, ge=0, description="Engines or sources consulted")
    label: str | None = Field(default=None, description="Threat label or name, e.g. trojan.emotet")
    link: str | None = Field(default=None, description="Where a person can read more")


class OnCall(_Model):
    user: str = Field(description="Display name of the person on call")
    email: str | None = None
    escalation_level: int = Field(default=1, ge=1)
    start: datetime | None = Field(default=None, description="Shift start; null for a permanent assignment")
    end: datetime | None = None
