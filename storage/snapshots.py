"""Snapshots in the log's database, served by SQLAlchemy Core on its async engine (aiosqlite, or
psycopg for PostgreSQL): written every N events and read once at start, far from the hot append
path.

The port, the snapshot value and the in-memory fake are in `storage.snapshotstore` (re-exported
here); read-only access without SQLAlchemy is `storage.snapshot_reader`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, desc, func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from domain.state import State
from storage.errors import StoreError
from storage.location import Location
from storage.schema import events, snapshots
from storage.snapshotstore import InMemorySnapshotStore, Snapshot, SnapshotStore, new_snapshot
from storage.sqlite_file import translate

__all__ = [
    "InMemorySnapshotStore",
    "Snapshot",
    "SnapshotStore",
    "SqlSnapshotStore",
    "SqliteSnapshotStore",
]


class SqlSnapshotStore:
    """Snapshots in the `snapshots` table of the log's database, through SQLAlchemy Core;
    `translate` turns the driver's errors into ours."""

    def __init__(
        self,
        path: Location,
        engine: AsyncEngine,
        translate: Callable[[BaseException], StoreError],
    ) -> None:
        self.path = path
        self._engine = engine
        self._translate = translate

    async def save(self, state: State, *, created_at: int, chain_hash: str | None = None) -> None:
        snap = new_snapshot(state, created_at, chain_hash)
        bound: Any = (
            bytes.fromhex(chain_hash)
            if chain_hash is not None
            else select(events.c.hash).where(events.c.seq == snap.seq).scalar_subquery()
        )
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    insert(snapshots).values(
                        seq=snap.seq,
                        projection_version=snap.projection_version,
                        state_hash=snap.state_hash,
                        state=snap.state,
                        created_at=snap.created_at,
                        chain_hash=bound,
                    )
                )
        except SQLAlchemyError as e:
            raise self._translate(e) from e

    async def newest_first(self) -> AsyncIterator[Snapshot]:
        """One snapshot at a time (their state blobs can be large)."""
        try:
            async with self._engine.connect() as connection:
                ids = (
                    (
                        await connection.execute(
                            select(snapshots.c.id).order_by(
                                desc(snapshots.c.seq), desc(snapshots.c.id)
                            )
                        )
                    )
                    .scalars()
                    .all()
                )
            for snapshot_id in ids:
                async with self._engine.connect() as connection:
                    row = (
                        await connection.execute(
                            select(snapshots).where(snapshots.c.id == snapshot_id)
                        )
                    ).one_or_none()
                if row is not None:
                    yield _snapshot_of(row)
        except SQLAlchemyError as e:
            raise self._translate(e) from e

    async def latest_seq(self) -> int | None:
        try:
            async with self._engine.connect() as connection:
                value = (await connection.execute(select(func.max(snapshots.c.seq)))).scalar()
        except SQLAlchemyError as e:
            raise self._translate(e) from e
        return None if value is None else int(value)

    async def prune(self, *, keep: int) -> int:
        try:
            async with self._engine.begin() as connection:
                kept = (
                    select(snapshots.c.id)
                    .order_by(desc(snapshots.c.seq), desc(snapshots.c.id))
                    .limit(keep)
                    .scalar_subquery()
                )
                result = await connection.execute(
                    delete(snapshots).where(snapshots.c.id.not_in(kept))
                )
                return int(result.rowcount or 0)
        except SQLAlchemyError as e:
            raise self._translate(e) from e

    async def aclose(self) -> None:
        await self._engine.dispose()


class SqliteSnapshotStore(SqlSnapshotStore):
    @classmethod
    def open(cls, path: Path | str, *, busy_timeout_s: float = 5.0) -> SqliteSnapshotStore:
        """Use a database already opened (and migrated) by `SqliteEventStore.open`."""
        path = Path(path).expanduser().absolute()
        engine = create_async_engine(
            f"sqlite+aiosqlite:///{path}", connect_args={"timeout": busy_timeout_s}
        )
        return cls(path, engine, lambda e: translate(path, e))


def _snapshot_of(row: Any) -> Snapshot:
    """A stored snapshot row as read (values of another kind than we write read as unusable)."""
    data = row.state if isinstance(row.state, bytes) else b""
    bound = row.chain_hash.hex() if isinstance(row.chain_hash, bytes) else None
    state_hash = row.state_hash if isinstance(row.state_hash, str) else ""
    version = row.projection_version if isinstance(row.projection_version, int) else -1
    return Snapshot(row.id, row.seq, version, state_hash, data, row.created_at, bound)
