"""Positron: one API that asks every source a SOC has the same question, at once, and merges the answers."""

from __future__ import annotations

__version__ = "0.1.0"
