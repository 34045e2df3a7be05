"""A clock that only moves when told to: the tests' stand-in for the system clock."""

from __future__ import annotations


class FixedClock:
    def __init__(self, now_ms: int = 1_764_000_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms
