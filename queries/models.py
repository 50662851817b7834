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


class HostInfo(_Model):
    """HOST_INFO's answer. ``agent_ids`` are ``source:id`` strings (``crowdstrike:4f1c…``, ``fleet:42``)."""

    hostname: str = Field(description="Host name as the source knows it (an FQDN where it has one), lower case")
    os: str | None = Field(default=None, description="Operating system and version, e.g. Windows 11 Enterprise")
    platform: str | None = Field(default=None, description="windows, macos, linux, ...")
    ip: str | None = Field(default=None, description="The address the source saw last")
    mac: str | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    owner: str | None = Field(default=None, description="The user name of the owner or primary user")
    site: str | None = Field(default=None, description="Site, location, or organizational unit")
    last_seen: datetime | None = None
    agent_ids: tuple[str, ...] | None = Field(default=None, description="Agent ids, each as source:id")


class OnCall(_Model):
    user: str = Field(description="Display name of the person on call")
    email: str | None = None
    escalation_level: int = Field(default=1, ge=1)
    start: datetime | None = Field(default=None, description="Shift start; null for a permanent assignment")
    end: datetime | None = None


__all__ = ["HostInfo", "OnCall", "Person", "Reputation", "UserInfo", "Verdict"]
