"""Clocks: the only place tierbuffer reads the time. Milliseconds since the Unix epoch (UTC)."""

from __future__ import annotations

import time


class SystemClock:
    def __call__(self) -> int:
        return time.time_ns() // 1_000_000
