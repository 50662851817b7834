"""The verdict vocabulary every reputation source speaks, as cortexutils keeps one taxonomy for every analyzer.

The merge's ``verdict`` strategy and the catalog's reputation queries both use these; they live in the core so that
the core never imports the catalog.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Verdict(StrEnum):
    MALICIOUS = "malicious"
    SUSPICIOUS = "suspicious"
    HARMLESS = "harmless"
    UNKNOWN = "unknown"


class Reputation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict
    malicious: int = Field(default=0, ge=0, description="Engines or sources that call it malicious")
    suspicious: int = Field(default=0, ge=0)
    harmless: int = Field(default=0, ge=0)
    undetected: int = Field(default=0, ge=0)
    total: int = Field(default=0, ge=0, description="Engines or sources consulted")
    label: str | None = Field(default=None, description="Threat label or name, e.g. trojan.emotet")
    link: str | None = Field(default=None, description="Where a person can read more")
    allowlisted: bool = Field(
        default=False,
        description="An explicit allowlist or a recorded false positive cleared it (see docs/verdicts.md)",
    )


__all__ = ["Reputation", "Verdict"]
