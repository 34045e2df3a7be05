"""Snapshots read from SQLite without SQLAlchemy, for the commands that only read the log.

Each call opens its own `connect_read_only` connection (nothing is written, nothing is left
beside the file); `save` and `prune` refuse, naming the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio

from domain.state import State
from storage.errors import ReadOnlyDatabaseError
from storage.snapshotstore import Snapshot
from storage.sqlite_file import connect_read_only, translate

_COLUMNS = "id, seq, projection_version, state_hash, state, created_at, chain_hash"


class SqliteSnapshotReader:
    """The `SnapshotStore` port on a database opened for reading only."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 5.0) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        connection = connect_read_only(self.path, busy_timeout_s=self._busy_timeout_s)
        try:
            return connection.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise translate(self.path, e) from e
        finally:
            connection.close()

    async def save(self, state: State, *, created_at: int, chain_hash: str | None = None) -> None:
        raise ReadOnlyDatabaseError(self.path, "opened for reading only: no snapshot written")

    async def newest_first(self) -> AsyncIterator[Snapshot]:
        """One snapshot at a time (their state blobs can be large)."""
        ids = await anyio.to_thread.run_sync(
            self._query, "SELECT id FROM snapshots ORDER BY seq DESC, id DESC"
        )
        for (snapshot_id,) in ids:
            rows = await anyio.to_thread.run_sync(
                self._query, f"SELECT {_COLUMNS} FROM snapshots WHERE id = ?", (snapshot_id,)
            )
            for row in rows:
                yield _snapshot(row)

    async def latest_seq(self) -> int | None:
        ((value,),) = await anyio.to_thread.run_sync(self._query, "SELECT MAX(seq) FROM snapshots")
        return None if value is None else int(value)

    async def prune(self, *, keep: int) -> int:
        raise ReadOnlyDatabaseError(self.path, "opened for reading only: no snapshot pruned")

    async def aclose(self) -> None:
        return None


def _snapshot(row: tuple[Any, ...]) -> Snapshot:
    """A stored row as read (values of another kind than we write read as unusable)."""
    snapshot_id, seq, version, state_hash, state, created_at, bound = row
    return Snapshot(
        int(snapshot_id),
        int(seq),
        version if isinstance(version, int) else -1,
        state_hash if isinstance(state_hash, str) else "",
        state if isinstance(state, bytes) else b"",
        int(created_at),
        bound.hex() if isinstance(bound, bytes) else None,
    )
