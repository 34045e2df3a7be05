"""The composition root: builds the stores from configuration. Nothing is built at import time."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec

from domain.state import State
from storage.snapshots import SqliteSnapshotStore
from storage.sqlite_store import SqliteEventStore

DEFAULT_SNAPSHOT_EVERY = 10_000
SNAPSHOTS_KEPT = 3


def default_db_path(environ: Mapping[str, str] = os.environ) -> Path:
    """`TIERBUFFER_DB`, else tierbuffer.db in the user's data directory (XDG on Linux)."""
    explicit = environ.get("TIERBUFFER_DB")
    if explicit:
        return Path(explicit).expanduser()
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "tierbuffer" / "tierbuffer.db"


class Log(msgspec.Struct):
    """The opened database: the event log and its snapshots."""

    events: SqliteEventStore
    snapshots: SqliteSnapshotStore


@asynccontextmanager
async def open_log(
    path: Path, *, clock: Callable[[], int], create: bool, migrate: bool
) -> AsyncIterator[Log]:
    events = await SqliteEventStore.open(path, clock=clock, create=create, migrate=migrate)
    snapshots = SqliteSnapshotStore.open(events.path)
    try:
        yield Log(events, snapshots)
    finally:
        await snapshots.aclose()
        await events.aclose()


async def snapshot_if_due(log: Log, state: State, *, every: int, clock: Callable[[], int]) -> bool:
    """Write a snapshot when `every` events or more were folded since the newest one."""
    latest = await log.snapshots.latest_seq() or 0
    if every <= 0 or state.seq - latest < every:
        return False
    await log.snapshots.save(state, created_at=clock())
    await log.snapshots.prune(keep=SNAPSHOTS_KEPT)
    return True
