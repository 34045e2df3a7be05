"""Content features of a stretch of audio as plain values: what the planner reads.

Kept apart from `domain.features` (which computes them with numpy), so folding the log, and
every command that only reads it, never imports numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NEUTRAL: Final = 0.5


@dataclass(frozen=True, slots=True)
class Features:
    energy: float
    brightness: float
    dynamics: float
    vocals: float
    rhythm: float
    neutral_reason: str | None = None

    def as_dict(self) -> dict[str, float]:
        return {
            "energy": self.energy,
            "brightness": self.brightness,
            "dynamics": self.dynamics,
            "vocals": self.vocals,
            "rhythm": self.rhythm,
        }


def neutral(reason: str) -> Features:
    return Features(NEUTRAL, NEUTRAL, NEUTRAL, NEUTRAL, NEUTRAL, reason)


def silent() -> Features:
    """Silence: no energy at all; the features that need a signal stay neutral."""
    return Features(0.0, NEUTRAL, NEUTRAL, NEUTRAL, NEUTRAL, "silent")
