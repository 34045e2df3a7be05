"""Branch predictor: which preset the listener switches to next (DESIGN §1).

Counts transitions `from → to`. The probabilities of the next preset are the counts from the
current preset, each weighted ×1.5 when that transition was seen in the last five minutes of event
time, then renormalised so they sum to 1. With no history from the current preset the defaults
apply (adaptive .5, gentle .2, warm .15, bright .1, punchy .05), the current preset removed and
the rest renormalised. Accuracy counts how often the top prediction was the switch that came.
"""

from __future__ import annotations

from typing import Final

from msgspec.structs import replace

from domain.events import PRESETS, Preset
from domain.state import Predictor, Transition

RECENCY_MS: Final[int] = 5 * 60 * 1_000
RECENCY_BOOST: Final[float] = 1.5
MAX_RECENT: Final[int] = 64
DEFAULTS: Final[dict[Preset, float]] = {
    "adaptive": 0.5,
    "gentle": 0.2,
    "warm": 0.15,
    "bright": 0.1,
    "punchy": 0.05,
}


def _normalised(weights: dict[Preset, float]) -> dict[Preset, float]:
    total = 0.0
    for preset in PRESETS:
        total += weights.get(preset, 0.0)
    if total <= 0.0:
        return {}
    return {p: weights[p] / total for p in PRESETS if weights.get(p, 0.0) > 0.0}


def probabilities(predictor: Predictor, current: Preset, now: int) -> dict[Preset, float]:
    """Next-preset probabilities from `current` at event time `now` (current preset excluded)."""
    counts = predictor.counts.get(current)
    if not counts:
        return _normalised({p: w for p, w in DEFAULTS.items() if p != current})
    horizon = now - RECENCY_MS
    recent = {t.target for t in predictor.recent if t.source == current and t.at >= horizon}
    weights: dict[Preset, float] = {}
    for preset in PRESETS:
        count = counts.get(preset, 0)
        if count > 0 and preset != current:
            weights[preset] = count * RECENCY_BOOST if preset in recent else float(count)
    return _normalised(weights)


def ranked(probs: dict[Preset, float], top: int) -> list[tuple[Preset, float]]:
    """The `top` most likely presets, most likely first; ties in PRESETS order."""
    order = {p: i for i, p in enumerate(PRESETS)}
    return sorted(probs.items(), key=lambda item: (-item[1], order[item[0]]))[:top]


def learn(predictor: Predictor, source: Preset, target: Preset, now: int) -> Predictor:
    """Record an observed switch; scores the top prediction made before it."""
    top = ranked(probabilities(predictor, source, now), 1)
    correct = predictor.correct + (1 if top and top[0][0] == target else 0)
    row = dict(predictor.counts.get(source, {}))
    row[target] = row.get(target, 0) + 1
    counts = dict(predictor.counts)
    counts[source] = row
    horizon = now - RECENCY_MS
    recent = tuple(t for t in predictor.recent if t.at >= horizon)[-(MAX_RECENT - 1) :]
    return replace(
        predictor,
        counts=counts,
        recent=(*recent, Transition(now, source, target)),
        predictions=predictor.predictions + 1,
        correct=correct,
    )


def accuracy(predictor: Predictor) -> float | None:
    if predictor.predictions == 0:
        return None
    return predictor.correct / predictor.predictions


def blend(
    habit: dict[Preset, float], affinity: dict[Preset, float], current: Preset
) -> dict[Preset, float]:
    """0.7 · habit + 0.3 · content affinity (both over the other presets), summing to 1."""
    content = _normalised({p: w for p, w in affinity.items() if p != current})
    if not content:
        return habit
    mixed = {p: 0.7 * habit.get(p, 0.0) + 0.3 * content.get(p, 0.0) for p in PRESETS}
    return _normalised(mixed)
