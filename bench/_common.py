"""Shared helpers of the benchmarks: percentiles and sample events."""

from __future__ import annotations

from adapters.ids import new_event_id
from domain.events import (
    DomainEvent,
    Fingerprint,
    NewEvent,
    PositionReported,
    PresetChanged,
    Seeked,
    TrackAdded,
    TrackChanged,
)

PRESET_CYCLE = ("adaptive", "gentle", "warm", "bright", "punchy")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def sample_event(i: int, tracks: int = 50) -> DomainEvent:
    """A realistic mix: mostly position reports, some seeks, preset and track changes."""
    kind = i % 20
    if i < tracks:
        return TrackAdded(
            track=f"track-{i:05d}",
            path=f"album/{i:05d}.flac",
            fingerprint=Fingerprint(size=30_000_000 + i, mtime_ns=i, content_hash=f"{i:064x}"),
            duration_ms=240_000,
            sample_rate=44_100,
            channels=2,
        )
    if kind == 0:
        return TrackChanged(track=f"track-{(i // 20) % tracks:05d}")
    if kind == 7:
        return PresetChanged(preset=PRESET_CYCLE[(i // 7) % 5])  # type: ignore[arg-type]
    if kind == 13:
        return Seeked(position_ms=(i * 37) % 200_000)
    return PositionReported(position_ms=(i * 100) % 240_000)


def new_event(i: int, base_ms: int = 1_764_000_000_000) -> NewEvent:
    return NewEvent(event_id=new_event_id(), occurred_at=base_ms + i * 100, event=sample_event(i))
