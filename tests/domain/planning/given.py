"""Building event logs for planning tests: `Log` hands out sequence numbers and event times."""

from __future__ import annotations

from domain.events import (
    ChunkKey,
    DomainEvent,
    Fingerprint,
    Preset,
    Recorded,
    TrackAdded,
)
from domain.projection import evolve
from domain.state import State

MINUTES_4 = 240_000


def track_added(track: str = "a", duration_ms: int = MINUTES_4, rate: int = 44_100) -> TrackAdded:
    return TrackAdded(track, f"{track}.flac", Fingerprint(1, 1, f"h-{track}"), duration_ms, rate, 2)


def key(index: int, preset: Preset = "adaptive", track: str = "a", revision: int = 0) -> ChunkKey:
    return ChunkKey(track, revision, preset, 5, index)


class Log:
    """An event log under construction, folded as it grows."""

    def __init__(self) -> None:
        self.events: list[Recorded] = []
        self.state = State()

    def at(self, ms: int, *events: DomainEvent) -> State:
        for event in events:
            n = len(self.events) + 1
            recorded = Recorded(n, f"e{n}", ms, ms, event)
            self.events.append(recorded)
            self.state = evolve(self.state, recorded)
        return self.state

    def recorded(self, ms: int, event: DomainEvent) -> Recorded:
        n = len(self.events) + 1
        return Recorded(n, f"e{n}", ms, ms, event)
