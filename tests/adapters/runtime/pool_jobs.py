"""Jobs for the pool's tests, run in a worker process by reference."""

from __future__ import annotations

import sys
import time

import numpy  # noqa: F401 - what a render worker has loaded

from adapters.audio import cancel


def spin(seconds: float) -> float:
    """Works for `seconds`, looking at the cancellation every 10 ms as a render does."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        cancel.checkpoint()
        time.sleep(0.01)
    return seconds


def hang() -> None:
    """Never looks at the cancellation and never ends: only a kill stops it."""
    while True:
        time.sleep(0.01)


def modules() -> list[str]:
    return sorted(
        name.split(".")[0] if not name.startswith("adapters") else ".".join(name.split(".")[:2])
        for name in sys.modules
    )
