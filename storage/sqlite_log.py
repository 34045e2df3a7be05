"""Opening a log kept in one SQLite file: its event store and snapshot store together."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from storage.log import Log
from storage.snapshot_reader import SqliteSnapshotReader
from storage.snapshotstore import SnapshotStore
from storage.sqlite_store import SqliteEventStore


@asynccontextmanager
async def open_sqlite_log(
    path: Path,
    *,
    clock: Callable[[], int],
    create: bool,
    migrate: bool,
    read_only: bool = False,
) -> AsyncIterator[Log]:
    """The log at `path`; `create=False` refuses a missing database, `migrate=False` one whose
    schema is not at the head revision. `read_only=True` opens it for reading only, through
    plain sqlite3 connections that write nothing (no SQLAlchemy, no Alembic)."""
    events = await SqliteEventStore.open(
        path, clock=clock, create=create, migrate=migrate, read_only=read_only
    )
    snapshots: SnapshotStore
    if read_only:
        snapshots = SqliteSnapshotReader(events.path)
    else:
        from storage.snapshots import SqliteSnapshotStore  # SQLAlchemy: writers only

        snapshots = SqliteSnapshotStore.open(events.path)
    try:
        yield Log(events, snapshots)
    finally:
        await snapshots.aclose()
        await events.aclose()
