"""Audio-content affinity of the presets, from a chunk's five features (DESIGN §1 rules).

High energy → punchy, bright; low energy → gentle, warm; high dynamics → adaptive; bright material
leans warm (to tame it) and dull material bright; strong rhythm → punchy; vocals → warm, adaptive.
Each weight starts at a small floor so every preset keeps some chance; the result sums to 1.
This is the planner's own small mapping (the audio side's `domain/affinity.py` was not there when
planning was written); the planner blends it 0.3 against the listener's habit.
"""

from __future__ import annotations

from typing import Final

from domain.events import PRESETS
from domain.state import Features

FLOOR: Final[float] = 0.05


def content_affinity(features: Features) -> dict[str, float]:
    """Preset affinities in [0, 1] summing to 1, in PRESETS order."""
    e, b, d = features.energy, features.brightness, features.dynamics
    v, r = features.vocals, features.rhythm
    raw = {
        "adaptive": FLOOR + d + 0.3 * v,
        "gentle": FLOOR + (1.0 - e) + 0.3 * (1.0 - r),
        "warm": FLOOR + 0.6 * (1.0 - e) + 0.5 * b + 0.3 * v,
        "bright": FLOOR + 0.6 * e + 0.6 * (1.0 - b),
        "punchy": FLOOR + e + 0.6 * r,
    }
    total = 0.0
    for preset in PRESETS:
        total += raw[preset]
    return {preset: raw[preset] / total for preset in PRESETS}
