"""Clocks: the only place tierbuffer reads the time. Milliseconds since the Unix epoch (UTC)."""

from __future__ import annotations

import time


class SystemClock:
    def __call__(self) -> int:
        return time.time_ns() // 1_000_000


class FixedClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, now_ms: int = 1_764_000_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms
