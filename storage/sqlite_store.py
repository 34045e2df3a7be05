"""The SQLite event store: the writer (`sqlite_writer`, group commit) and the reader
(`sqlite_reader`, paged reads on short-lived connections) behind the `EventStore` port.

Opened with `read_only=True` (the commands that only read), there is no writer and no write
connection: every connection is `sqlite_file.connect_read_only`, the schema revision is checked
without Alembic (`storage.revisions`), and nothing is created beside the file."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import anyio

from domain.codec import EventCodec
from domain.events import NewEvent, Recorded
from storage.batch import prepare
from storage.errors import ReadOnlyDatabaseError, StoreClosedError
from storage.eventstore import LogReads, RowFilter
from storage.revisions import at_head, checked_read_only
from storage.row import StoredRow
from storage.sqlite_file import Synchronous, checked_path, connect
from storage.sqlite_reader import SqliteReader
from storage.sqlite_writer import WAL_CAP_BYTES, SqliteWriter


class SqliteEventStore(LogReads):
    def __init__(
        self,
        path: Path,
        writer: SqliteWriter | None,
        reader: SqliteReader,
        *,
        codec: EventCodec,
        synchronous: Synchronous,
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.codec = codec
        self._writer = writer
        self._reader = reader
        self.read_only = writer is None
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        clock: Callable[[], int],
        codec: EventCodec | None = None,
        create: bool = True,
        migrate: bool = True,
        read_only: bool = False,
        busy_timeout_s: float = 5.0,
        synchronous: Synchronous = "NORMAL",
        wal_cap_bytes: int = WAL_CAP_BYTES,
        idle_checkpoint_s: float = 5.0,
    ) -> SqliteEventStore:
        """Open (creating and migrating when allowed) the log at `path`.

        `create=False` refuses a missing database; `migrate=False` refuses one whose schema is
        not at the head revision instead of upgrading it. `read_only=True` implies both, and
        opens the log for reading only (appending raises `ReadOnlyDatabaseError`). The WAL is
        truncated once it grows past `wal_cap_bytes`, and after `idle_checkpoint_s` seconds
        without a commit.
        """
        if read_only:
            path = await anyio.to_thread.run_sync(checked_read_only, Path(path), busy_timeout_s)
            reader = SqliteReader(path, busy_timeout_s=busy_timeout_s)
            return cls(path, None, reader, codec=codec or EventCodec(), synchronous=synchronous)
        path = await anyio.to_thread.run_sync(checked_path, Path(path), create)
        if not await anyio.to_thread.run_sync(
            lambda: at_head(path, busy_timeout_s, upgrade=migrate)
        ):
            from storage.migrate import ensure_schema  # Alembic: only to create or upgrade

            await ensure_schema(path, upgrade=migrate)
        connection = await anyio.to_thread.run_sync(
            lambda: connect(path, busy_timeout_s=busy_timeout_s, synchronous=synchronous)
        )
        writer = SqliteWriter(
            path,
            connection,
            clock=clock,
            busy_timeout_s=busy_timeout_s,
            wal_cap_bytes=wal_cap_bytes,
            idle_checkpoint_s=idle_checkpoint_s,
            # A FULL commit waits for an fsync: never on the event loop.
            inline=synchronous == "NORMAL",
        )
        reader = SqliteReader(path, busy_timeout_s=busy_timeout_s)
        return cls(path, writer, reader, codec=codec or EventCodec(), synchronous=synchronous)

    async def append(self, events: Sequence[NewEvent]) -> list[int]:
        if self._closed:
            raise StoreClosedError()
        if not events:
            return []
        if self._writer is None:
            raise ReadOnlyDatabaseError(self.path, "opened for reading only: nothing appended")
        return await self._writer.submit(prepare(self.codec, events))

    async def _fetch_page(self, wanted: RowFilter, limit: int) -> list[StoredRow]:
        return await self._reader.fetch_page(wanted, limit)

    def iter_rows(self, *, after: int = 0) -> Iterator[StoredRow]:
        return self._reader.iter_rows(after=after)

    def iter_recorded(self, *, after: int = 0) -> Iterator[Recorded]:
        return self._reader.iter_recorded(self.codec, after=after)

    def hash_at(self, seq: int) -> str | None:
        return self._reader.hash_at(seq)

    async def last_seq(self) -> int:
        return await self._reader.last_seq()

    async def aclose(self) -> None:
        """Commit what is queued, stop the writer thread and close its connection."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._writer.flush()
            await anyio.to_thread.run_sync(self._writer.close)
        await self._reader.aclose()
