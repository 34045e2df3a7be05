"""Event factories and direct SQLite access shared by the tests."""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from domain.events import (
    PRESETS,
    ChunkKey,
    ChunkRequested,
    DomainEvent,
    Fingerprint,
    IntensityChanged,
    NewEvent,
    Paused,
    PositionReported,
    PresetChanged,
    Resumed,
    Seeked,
    Stopped,
    TrackAdded,
    TrackChanged,
    TrackDeleted,
    TrackModified,
)

T0 = 1_764_000_000_000


def new_id() -> str:
    return str(uuid.uuid4())


def track_added(track: str = "t1", *, size: int = 1000, duration_ms: int = 180_000) -> TrackAdded:
    return TrackAdded(
        track=track,
        path=f"music/{track}.flac",
        fingerprint=Fingerprint(size=size, mtime_ns=size * 7, content_hash=f"h{track}{size}"),
        duration_ms=duration_ms,
        sample_rate=44_100,
        channels=2,
    )


def new_event(event: DomainEvent, *, at: int = T0, event_id: str | None = None) -> NewEvent:
    return NewEvent(event_id=event_id or new_id(), occurred_at=at, event=event)


def mixed_events(count: int, *, seed: int = 7, tracks: int = 5) -> list[NewEvent]:
    """A plausible session: a library, then interactions of every kind, in event time order."""
    rng = random.Random(seed)
    names = [f"t{i}" for i in range(tracks)]
    out = [new_event(track_added(name, size=1000 + i), at=T0 + i) for i, name in enumerate(names)]
    at = T0 + 1000
    while len(out) < count:
        at += rng.randint(1, 5000)
        name = rng.choice(names)
        kind = rng.randrange(12)
        event: DomainEvent
        if kind == 0:
            event = TrackChanged(track=name, position_ms=rng.randint(0, 10_000))
        elif kind == 1:
            event = PositionReported(position_ms=rng.randint(0, 200_000))
        elif kind == 2:
            event = Seeked(position_ms=rng.randint(0, 200_000))
        elif kind == 3:
            event = PresetChanged(preset=rng.choice(PRESETS))
        elif kind == 4:
            event = IntensityChanged(intensity=rng.randint(0, 10) / 10)
        elif kind == 5:
            event = Paused()
        elif kind == 6:
            event = Resumed()
        elif kind == 7:
            event = Stopped()
        elif kind == 8:
            event = track_added(name, size=rng.randint(1, 10**6))
        elif kind == 9:
            size = rng.randint(1, 10**6)
            added = track_added(name, size=size)
            event = TrackModified(
                track=name,
                path=added.path,
                fingerprint=added.fingerprint,
                duration_ms=rng.randint(1000, 400_000),
                sample_rate=48_000,
                channels=2,
            )
        elif kind == 10:
            event = TrackDeleted(track=name)
        else:
            key = ChunkKey(
                track=name,
                revision=0,
                preset=rng.choice(PRESETS),
                intensity_tenths=rng.randint(0, 10),
                index=rng.randint(0, 20),
            )
            event = ChunkRequested(key=key)
        out.append(new_event(event, at=at))
    return out[:count]


def session_lines(count: int = 6) -> list[dict[str, Any]]:
    """JSON-lines session entries (the `ingest` format), valid, in time order."""
    lines: list[dict[str, Any]] = [
        {
            "type": "TrackAdded",
            "at": T0,
            "track": "t1",
            "path": "music/t1.flac",
            "fingerprint": {"size": 10, "mtime_ns": 20, "content_hash": "abc"},
            "duration_ms": 200_000,
            "sample_rate": 44_100,
            "channels": 2,
        },
        {
            "type": "TrackAdded",
            "at": "2025-11-24T16:00:00.500Z",
            "track": "t2",
            "path": "music/t2.flac",
            "fingerprint": {"size": 11, "mtime_ns": 21, "content_hash": "def"},
            "duration_ms": 100_000,
            "sample_rate": 48_000,
            "channels": 1,
        },
        {"type": "TrackChanged", "at": T0 + 2000, "track": "t1"},
        {"type": "PresetChanged", "at": T0 + 3000, "preset": "warm"},
        {"type": "Seeked", "at": T0 + 4000, "position_ms": 30_000},
        {"type": "Paused", "at": T0 + 5000},
        {"type": "Resumed", "at": T0 + 6000},
        {"type": "IntensityChanged", "at": T0 + 7000, "intensity": 0.8},
        {"type": "TrackChanged", "at": T0 + 8000, "track": "t2", "position_ms": 1000},
        {"type": "PositionReported", "at": T0 + 9000, "position_ms": 2000},
    ]
    at = T0 + 10_000
    while len(lines) < count:
        at += 1000
        lines.append({"type": "PositionReported", "at": at, "position_ms": len(lines) * 100})
    return lines[:count]


def write_session(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(entry) + "\n" for entry in entries), encoding="utf-8")
    return path


def sqlite_rows(db: Path, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the database directly, behind tierbuffer's back."""
    connection = sqlite3.connect(db)
    try:
        return connection.execute(query, params).fetchall()
    finally:
        connection.close()


def sqlite_exec(db: Path, *statements: str) -> None:
    """Change the database directly, behind tierbuffer's back, in one transaction."""
    connection = sqlite3.connect(db, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        for statement in statements:
            connection.execute(statement)
        connection.execute("COMMIT")
    finally:
        connection.close()


def checkpoint(db: Path) -> None:
    """Move everything from the WAL into the main file and empty the WAL."""
    connection = sqlite3.connect(db)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        connection.close()


def sidecars(db: Path) -> list[Path]:
    return [p for p in (Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")) if p.exists()]
