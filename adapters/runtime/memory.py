"""Memory pressure: read the share of system memory in use, append a change of level.

Levels (DESIGN §1): normal < 75 %, warning ≥ 75 %, critical ≥ 85 %, emergency ≥ 95 %. A level is
entered as soon as its threshold is crossed and left only once usage falls `HYSTERESIS` below it,
so a reading hovering at a threshold does not flap.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

import anyio
import psutil
from anyio.abc import TaskStatus

from domain.events import MemoryPressureChanged, PressureLevel

logger = logging.getLogger(__name__)

LEVELS: Final[tuple[PressureLevel, ...]] = ("normal", "warning", "critical", "emergency")
THRESHOLDS: Final[dict[PressureLevel, float]] = {
    "normal": 0.0,
    "warning": 0.75,
    "critical": 0.85,
    "emergency": 0.95,
}
HYSTERESIS: Final[float] = 0.05


def next_level(current: PressureLevel, used: float) -> PressureLevel:
    """The level for a reading, given the level we are at."""
    rank = LEVELS.index(current)
    while rank + 1 < len(LEVELS) and used >= THRESHOLDS[LEVELS[rank + 1]]:
        rank += 1
    while rank > 0 and used < THRESHOLDS[LEVELS[rank]] - HYSTERESIS:
        rank -= 1
    return LEVELS[rank]


def system_memory_used() -> float:
    return float(psutil.virtual_memory().percent) / 100.0


class MemoryMonitor:
    def __init__(
        self,
        record: Callable[[MemoryPressureChanged], Awaitable[object]],
        *,
        current: PressureLevel,
        interval_s: float = 1.0,
        read: Callable[[], float] = system_memory_used,
    ) -> None:
        self._record = record
        self._level: PressureLevel = current
        self._interval_s = interval_s
        self._read = read

    @property
    def level(self) -> PressureLevel:
        return self._level

    async def check(self) -> PressureLevel:
        used = min(1.0, max(0.0, self._read()))
        level = next_level(self._level, used)
        if level != self._level:
            logger.warning("memory pressure %s -> %s (%.0f%% used)", self._level, level, used * 100)
            self._level = level
            await self._record(MemoryPressureChanged(level=level, used_fraction=round(used, 3)))
        return level

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await self.check()
            await anyio.sleep(self._interval_s)
