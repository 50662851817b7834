"""Circuit breakers: an instance that keeps failing is skipped for a while instead of slowing every request.

    closed ──N consecutive failures──▶ open ──cool-down──▶ half_open ──probe ok──▶ closed
                                        ▲                      │
                                        └─────probe failed─────┘

While open, calls are refused with ``CircuitOpen`` (status ``skipped``, code ``circuit_open``); cached answers
are still served. After the cool-down one call is let through as a probe; the others stay skipped until it ends.
Health checks feed the same state: a failed check counts as a failure, a passing one ends the cool-down early.

The state is per process: each replica learns about a failing source after N failures of its own, which costs
nothing on the request path (sharing it would add a Redis round trip to every call).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from positron.errors import ProviderError

State = Literal["closed", "open", "half_open"]


class CircuitOpen(ProviderError):
    code = "circuit_open"
    status = "skipped"


class Circuit:
    def __init__(self, failures: int, cooldown_s: float, on_change: Callable[[State], None] | None = None) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self.state: State = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self._probing = False
        self._on_change = on_change

    def _set(self, state: State) -> None:
        if state != self.state:
            self.state = state
            if self._on_change is not None:
                self._on_change(state)

    def blocked(self) -> str | None:
        """Why the instance is skipped now (open and cooling down), without claiming the half-open probe."""
        if self.state != "open" or self.threshold == 0:
            return None
        left = self.opened_at + self.cooldown_s - time.monotonic()
        if left <= 0:
            return None
        return f"circuit open after {self.failures} consecutive failures; retry in {left:.0f} s"

    def check(self) -> None:
        """Raise CircuitOpen when the instance must not be called now; else let the call go (maybe as the probe)."""
        if self.state == "closed" or self.threshold == 0:
            return
        if self.state == "open":
            reason = self.blocked()
            if reason is not None:
                raise CircuitOpen(reason)
            self._set("half_open")
        if self._probing:
            raise CircuitOpen("circuit half-open: a probe call is under way")
        self._probing = True

    def success(self) -> None:
        self._probing = False
        self.failures = 0
        self._set("closed")

    def failure(self) -> None:
        self._probing = False
        self.failures += 1
        if self.threshold and (self.state == "half_open" or self.failures >= self.threshold):
            self.opened_at = time.monotonic()
            self._set("open")

    def release(self) -> None:
        """A call ended without telling anything about the source's health (rate limited, cancelled, bad input)."""
        self._probing = False

    def health(self, ok: bool) -> None:
        """A health check's result."""
        if not ok:
            self.failure()
        elif self.state == "open":
            self._set("half_open")
