"""The series a session report plots, computed by folding the log once, event by event.

The state is folded from the first event whatever is shown (occupancy depends on all that came
before); points are kept only for events inside the time window, and split into sessions: a
session of the service runs from `ServiceStarted` to its `ServiceStopped` (or to the next start,
if it was killed); events outside any (ingested or scanned without the service) form sessions
of their own.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from domain.events import (
    ChunkFailed,
    ChunkRendered,
    ChunkRequested,
    MemoryPressureChanged,
    Recorded,
    ServiceStarted,
    ServiceStopped,
)
from domain.projection import evolve
from domain.state import State
from domain.tiers import chunk_id

Point = tuple[float, float]
LEVELS = {"normal": 0, "warning": 1, "critical": 2, "emergency": 3}


class Session(msgspec.Struct):
    """Times are ms of event time (occurred-at). `service` is the version that ran it, or ""
    for events appended without the service."""

    service: str = ""
    stop_reason: str | None = None
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
    pending: dict[str, int] = msgspec.field(default_factory=dict)  # missed, not yet rendered


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


class _Folding:
    """Sessions being built while the log is folded."""

    def __init__(self, begin: int | None, end: int | None) -> None:
        self.begin, self.end = begin, end
        self.sessions: list[Session] = []
        self.open: Session | None = None
        self.last_occupancy = {"L1": -1, "L2": -1, "L3": -1}

    def session_for(self, event: object) -> Session:
        current = self.open
        starts = isinstance(event, ServiceStarted)
        if current is None or starts or (current.service and current.stop_reason is not None):
            current = Session(service=event.version if isinstance(event, ServiceStarted) else "")
            self.sessions.append(current)
        self.open = current
        return current

    def shown(self, at: int) -> bool:
        return (self.begin is None or at >= self.begin) and (self.end is None or at <= self.end)


def fold_sessions(
    events: Iterable[Recorded], *, begin: int | None = None, end: int | None = None
) -> list[Session]:
    """The sessions of the log with their series, limited to occurred-at in [begin, end]."""
    folding = _Folding(begin, end)
    state = State()
    for recorded in events:
        before, state = state, evolve(state, recorded)
        event = recorded.event
        if not folding.shown(recorded.occurred_at):
            continue
        session = folding.session_for(event)
        _point(session, folding, before, state, recorded)
        if isinstance(event, ServiceStopped):
            session.stop_reason = event.reason
    return folding.sessions


def _point(
    session: Session, folding: _Folding, before: State, state: State, recorded: Recorded
) -> None:
    at, event = recorded.occurred_at, recorded.event
    session.events += 1
    session.first_at = at if session.first_at is None else session.first_at
    session.last_at = max(session.last_at, at)
    if isinstance(event, ChunkRequested):
        if _requested(session, before, state, at) == "miss":
            session.pending.setdefault(chunk_id(event.key), at)
    elif isinstance(event, ChunkRendered):
        session.renders.append((at, len(session.renders) + 1))
        session.render_ms.append((at, event.render_ms))
        asked = session.pending.pop(chunk_id(event.key), None)
        if asked is not None:
            session.waits.append((at, (at - asked) / 1000))
    elif isinstance(event, ChunkFailed):
        series = session.failures.setdefault(event.reason, [])
        series.append((at, len(series) + 1))
    elif isinstance(event, MemoryPressureChanged):
        session.memory.append((at, LEVELS[event.level]))
        session.memory_used.append((at, event.used_fraction * 100))
    fresh = not session.occupancy["L1"]
    if fresh or state.cache.held is not before.cache.held:
        occupancy = _occupancy(state)
        if fresh or occupancy != folding.last_occupancy:
            for tier, size in occupancy.items():
                session.occupancy[tier].append((at, size / 1e6))
            folding.last_occupancy = occupancy


def thin(points: list[Point], limit: int = 600) -> list[Point]:
    """At most `limit` points, keeping the first and the last."""
    if len(points) <= limit:
        return points
    step = len(points) / (limit - 1)
    kept = [points[int(i * step)] for i in range(limit - 1)]
    return [*kept, points[-1]]
