"""Opening a log kept in a PostgreSQL database: its event store and snapshot store together."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from storage.location import PgUrl
from storage.log import Log
from storage.migrate import engine_for, translate
from storage.pg_store import PgEventStore
from storage.snapshots import SqlSnapshotStore


@asynccontextmanager
async def open_pg_log(
    where: PgUrl, *, clock: Callable[[], int], migrate: bool
) -> AsyncIterator[Log]:
    """The log in the database at `where`; `migrate=False` refuses one whose schema is not at
    the head revision (a database without tierbuffer's tables included)."""
    events = await PgEventStore.open(where, clock=clock, migrate=migrate)
    snapshots = SqlSnapshotStore(where, engine_for(where), lambda e: translate(where, e))
    try:
        yield Log(events, snapshots)
    finally:
        await snapshots.aclose()
        await events.aclose()
