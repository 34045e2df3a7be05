"""Audio affinity: how well each preset suits a chunk's content (DESIGN §1), as probabilities.

Rules, each adding to a preset's score, on top of a floor every preset gets:

- high energy -> punchy and bright; low energy -> gentle and warm;
- strong rhythm (envelope fluctuation) -> punchy, which keeps transients and tightens the low end;
- high dynamics (crest factor) -> adaptive, which levels the track to a loudness target;
- harsh, bright content -> warm and gentle, which shelve the top down; dull content -> bright;
- vocal presence -> bright (presence peak at 3 kHz) and gentle (soft upper mids).

The scores are normalised to sum to 1. Neutral features (0.5 each) give a near-even spread.
"""

from __future__ import annotations

from typing import Final

from domain.content import Features
from domain.events import PRESETS, Preset

FLOOR: Final = 0.2


def preset_affinity(features: Features) -> dict[Preset, float]:
    """Probability of each preset given the content; keys in `PRESETS` order, summing to 1."""
    energy = _clamp(features.energy)
    bright = _clamp(features.brightness)
    dynamics = _clamp(features.dynamics)
    vocals = _clamp(features.vocals)
    rhythm = _clamp(features.rhythm)
    scores: dict[Preset, float] = {
        "adaptive": FLOOR + 1.0 * dynamics,
        "gentle": FLOOR + 0.7 * (1.0 - energy) + 0.3 * bright + 0.2 * vocals,
        "warm": FLOOR + 0.6 * (1.0 - energy) + 0.5 * bright,
        "bright": FLOOR + 0.4 * energy + 0.5 * (1.0 - bright) + 0.3 * vocals,
        "punchy": FLOOR + 0.6 * energy + 0.6 * rhythm,
    }
    total = sum(scores.values())
    return {preset: scores[preset] / total for preset in PRESETS}


def _clamp(value: float) -> float:
    if value != value:  # NaN: no information
        return 0.5
    return min(1.0, max(0.0, value))
