"""Shared helpers of the benchmarks: percentiles and sample events."""

from __future__ import annotations

from pathlib import Path

from adapters.bootstrap import sources
from domain.events import (
    PRESETS,
    DomainEvent,
    Fingerprint,
    NewEvent,
    PositionReported,
    PresetChanged,
    Seeked,
    TrackAdded,
    TrackChanged,
)

PRESET_CYCLE = PRESETS
_new_id = sources().new_id


def load() -> str:
    """The load averages over 1, 5 and 15 minutes, as the benchmarks print them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def sample_event(i: int, tracks: int = 50) -> DomainEvent:
    """A listening log: a library first, then the player's position feed at 10 Hz (one event
    per 100 ms of `new_event` time) with a seek about once a minute, a preset change about
    every 30 s and a track change every 4 minutes."""
    if i < tracks:
        return TrackAdded(
            track=f"track-{i:05d}",
            path=f"album/{i:05d}.flac",
            fingerprint=Fingerprint(size=30_000_000 + i, mtime_ns=i, content_hash=f"{i:064x}"),
            duration_ms=240_000,
            sample_rate=44_100,
            channels=2,
        )
    n = i - tracks
    if n % 2_400 == 0:
        return TrackChanged(track=f"track-{(n // 2_400) % tracks:05d}")
    position = (n % 2_400) * 100
    if n % 300 == 150:
        return PresetChanged(preset=PRESET_CYCLE[(n // 300) % 5])
    if n % 600 == 450:
        return Seeked(position_ms=(position + 30_000) % 240_000)
    return PositionReported(position_ms=position)


def new_event(i: int, base_ms: int = 1_764_000_000_000) -> NewEvent:
    return NewEvent(event_id=_new_id(), occurred_at=base_ms + i * 100, event=sample_event(i))
