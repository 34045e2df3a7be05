"""The series a session report plots, computed by folding the log once, event by event."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from domain.events import (
    ChunkFailed,
    ChunkRendered,
    ChunkRequested,
    MemoryPressureChanged,
    Recorded,
)
from domain.projection import evolve
from domain.state import State
from domain.tiers import chunk_id

Point = tuple[float, float]
LEVELS = {"normal": 0, "warning": 1, "critical": 2, "emergency": 3}


class Session(msgspec.Struct):
    """Times are ms of event time (occurred-at)."""

    events: int = 0
    first_at: int | None = None
    last_at: int = 0
    occupancy: dict[str, list[Point]] = msgspec.field(
        default_factory=lambda: {"L1": [], "L2": [], "L3": []}
    )
    hits: dict[str, list[Point]] = msgspec.field(
        default_factory=lambda: {"L1": [], "L2": [], "L3": [], "miss": []}
    )
    waits: list[Point] = msgspec.field(default_factory=list)
    renders: list[Point] = msgspec.field(default_factory=list)
    render_ms: list[Point] = msgspec.field(default_factory=list)
    failures: dict[str, list[Point]] = msgspec.field(default_factory=dict)
    memory: list[Point] = msgspec.field(default_factory=list)
    memory_used: list[Point] = msgspec.field(default_factory=list)


def _occupancy(state: State) -> dict[str, int]:
    totals = {"L1": 0, "L2": 0, "L3": 0}
    for held in state.cache.held.values():
        totals[held.tier] += held.bytes
    return totals


def _requested(session: Session, before: State, after: State, at: int) -> str:
    b, a = before.stats, after.stats
    for tier, was, now in (
        ("L1", b.hits_l1, a.hits_l1),
        ("L2", b.hits_l2, a.hits_l2),
        ("L3", b.hits_l3, a.hits_l3),
        ("miss", b.misses, a.misses),
    ):
        if now > was:
            series = session.hits[tier]
            series.append((at, (series[-1][1] if series else 0) + 1))
            return tier
    return ""


def fold_session(events: Iterable[Recorded]) -> Session:
    session = Session()
    state = State()
    last_occupancy = {"L1": -1, "L2": -1, "L3": -1}
    missed_at: dict[str, int] = {}
    for recorded in events:
        at, event = recorded.occurred_at, recorded.event
        before, state = state, evolve(state, recorded)
        session.events += 1
        session.first_at = at if session.first_at is None else session.first_at
        session.last_at = max(session.last_at, at)
        if isinstance(event, ChunkRequested):
            if _requested(session, before, state, at) == "miss":
                missed_at.setdefault(chunk_id(event.key), at)
        elif isinstance(event, ChunkRendered):
            session.renders.append((at, len(session.renders) + 1))
            session.render_ms.append((at, event.render_ms))
            asked = missed_at.pop(chunk_id(event.key), None)
            if asked is not None:
                session.waits.append((at, (at - asked) / 1000))
        elif isinstance(event, ChunkFailed):
            series = session.failures.setdefault(event.reason, [])
            series.append((at, len(series) + 1))
        elif isinstance(event, MemoryPressureChanged):
            session.memory.append((at, LEVELS[event.level]))
            session.memory_used.append((at, event.used_fraction * 100))
        if state.cache.held is not before.cache.held:
            occupancy = _occupancy(state)
            if occupancy != last_occupancy:
                for tier, size in occupancy.items():
                    session.occupancy[tier].append((at, size / 1e6))
                last_occupancy = occupancy
    return session


def thin(points: list[Point], limit: int = 600) -> list[Point]:
    """At most `limit` points, keeping the first and the last."""
    if len(points) <= limit:
        return points
    step = len(points) / (limit - 1)
    kept = [points[int(i * step)] for i in range(limit - 1)]
    return [*kept, points[-1]]
