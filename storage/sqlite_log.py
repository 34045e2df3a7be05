"""Opening a log kept in one SQLite file: its event store and snapshot store together."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from storage.log import Log
from storage.snapshots import SqliteSnapshotStore
from storage.sqlite_store import SqliteEventStore


@asynccontextmanager
async def open_sqlite_log(
    path: Path,
    *,
    clock: Callable[[], int],
    create: bool,
    migrate: bool,
    busy_timeout_s: float = 5.0,
) -> AsyncIterator[Log]:
    """The log at `path`; `create=False` refuses a missing database, `migrate=False` one whose
    schema is not at the head revision; an append waits `busy_timeout_s` at most for the write
    lock another process holds."""
    events = await SqliteEventStore.open(
        path, clock=clock, create=create, migrate=migrate, busy_timeout_s=busy_timeout_s
    )
    snapshots = SqliteSnapshotStore.open(events.path, busy_timeout_s=busy_timeout_s)
    try:
        yield Log(events, snapshots)
    finally:
        await snapshots.aclose()
        await events.aclose()
