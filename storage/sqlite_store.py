"""The SQLite event store.

Write path (DESIGN §2): appends are prepared (validated, encoded) by their callers, then one leader
at a time takes everything pending and commits it as a single call on the writer connection's
thread, inside `BEGIN IMMEDIATE`: appends that arrive together share one commit (group commit).
Each caller is answered only after the commit that holds its events.

Reads use their own short-lived connections and page through the log by sequence number, so a
reader never holds a long transaction and never loads the whole log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import anyio
import msgspec

from domain.codec import EventCodec
from domain.events import NewEvent, Recorded
from storage.chain import GENESIS, StoredRow
from storage.errors import DatabaseError, StoreClosedError, StoreError
from storage.eventstore import Prepared, assign, prepare, to_recorded
from storage.migrate import ensure_schema
from storage.sqlite_file import check_database_file, translate

Synchronous = Literal["NORMAL", "FULL"]
_SYNC_LEVELS = {"NORMAL": 1, "FULL": 2}
_ROW_COLUMNS = "seq, event_id, type, version, occurred_at, recorded_at, payload, hash"
_PAGE = 2000
_ID_CHUNK = 500


class _Pending(msgspec.Struct):
    prepared: list[Prepared]
    done: anyio.Event
    seqs: list[int] | None = None
    error: BaseException | None = None


def connect(path: Path, *, busy_timeout_s: float, synchronous: Synchronous) -> sqlite3.Connection:
    """A connection in autocommit mode (we issue BEGIN ourselves), WAL, busy timeout set."""
    try:
        connection = sqlite3.connect(
            str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            connection.close()
            raise DatabaseError(path, f"cannot switch to WAL journal mode (got {mode})")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        level = connection.execute("PRAGMA synchronous").fetchone()[0]
        if level != _SYNC_LEVELS[synchronous]:
            connection.close()
            raise DatabaseError(path, f"synchronous={synchronous} did not take (got {level})")
    except sqlite3.Error as e:
        raise translate(path, e) from e
    return connection


class SqliteEventStore:
    def __init__(
        self,
        path: Path,
        writer: sqlite3.Connection,
        *,
        clock: Callable[[], int],
        codec: EventCodec,
        busy_timeout_s: float,
        synchronous: Synchronous,
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self._writer = writer
        self._clock = clock
        self.codec = codec
        self._busy_timeout_s = busy_timeout_s
        self._pending: list[_Pending] = []
        self._leader = anyio.Lock()
        self._thread = anyio.CapacityLimiter(1)
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
        busy_timeout_s: float = 5.0,
        synchronous: Synchronous = "NORMAL",
    ) -> SqliteEventStore:
        """Open (creating and migrating when allowed) the log at `path`.

        `create=False` refuses a missing database; `migrate=False` refuses one whose schema is
        not at the head revision instead of upgrading it.
        """
        path = Path(path).expanduser().absolute()
        check_database_file(path, create=create)
        await ensure_schema(path, upgrade=migrate)
        writer = await anyio.to_thread.run_sync(
            lambda: connect(path, busy_timeout_s=busy_timeout_s, synchronous=synchronous)
        )
        return cls(
            path,
            writer,
            clock=clock,
            codec=codec or EventCodec(),
            busy_timeout_s=busy_timeout_s,
            synchronous=synchronous,
        )

    # --- writing ---------------------------------------------------------------------------

    async def append(self, events: Sequence[NewEvent]) -> list[int]:
        if self._closed:
            raise StoreClosedError()
        if not events:
            return []
        pending = _Pending(prepare(self.codec, events), anyio.Event())
        self._pending.append(pending)
        async with self._leader:
            if not pending.done.is_set():
                batch, self._pending = self._pending, []
                await self._commit(batch)
        if pending.error is not None:
            raise pending.error
        assert pending.seqs is not None
        return pending.seqs

    async def _commit(self, batch: list[_Pending]) -> None:
        recorded_at = self._clock()
        prepared = [p.prepared for p in batch]
        try:
            results = await anyio.to_thread.run_sync(
                self._write, prepared, recorded_at, limiter=self._thread, abandon_on_cancel=False
            )
        except BaseException as e:
            error = e if isinstance(e, StoreError) else translate(self.path, e)
            for p in batch:
                p.error = error
                p.done.set()
            if not isinstance(e, Exception):
                raise
            return
        for p, seqs in zip(batch, results, strict=True):
            p.seqs = seqs
            p.done.set()

    def _write(self, batches: list[list[Prepared]], recorded_at: int) -> list[list[int]]:
        """One transaction, run on the writer thread."""
        cursor = self._writer.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                ids = list({p.event_id for batch in batches for p in batch})
                existing: dict[str, int] = {}
                for start in range(0, len(ids), _ID_CHUNK):
                    chunk = ids[start : start + _ID_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    query = f"SELECT event_id, seq FROM events WHERE event_id IN ({marks})"
                    existing.update(cursor.execute(query, chunk).fetchall())
                last = cursor.execute(
                    "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                rows, results = assign(
                    batches,
                    last_seq=last[0] if last else 0,
                    last_hash=last[1] if last else GENESIS,
                    existing=existing,
                    recorded_at=recorded_at,
                )
                if rows:
                    cursor.executemany(
                        "INSERT INTO events (seq, event_id, type, version, occurred_at, "
                        "recorded_at, track, payload, hash) VALUES (?,?,?,?,?,?,?,?,?)",
                        [
                            (
                                r.row.seq,
                                r.row.event_id,
                                r.row.type,
                                r.row.version,
                                r.row.occurred_at,
                                r.row.recorded_at,
                                r.track,
                                r.row.payload,
                                r.row.hash,
                            )
                            for r in rows
                        ],
                    )
                cursor.execute("COMMIT")
            except BaseException:
                if self._writer.in_transaction:
                    cursor.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise translate(self.path, e) from e
        finally:
            cursor.close()
        return results

    # --- reading ---------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                str(self.path),
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            connection.execute("PRAGMA query_only=1")
        except sqlite3.Error as e:
            raise translate(self.path, e) from e
        return connection

    def _page(
        self,
        connection: sqlite3.Connection,
        after: int,
        types: Sequence[str] | None,
        track: str | None,
    ) -> list[tuple[Any, ...]]:
        where, params = ["seq > ?"], [after]
        if types is not None:
            where.append(f"type IN ({','.join('?' * len(types))})")
            params.extend(types)
        if track is not None:
            where.append("track = ?")
            params.append(track)
        query = (
            f"SELECT {_ROW_COLUMNS} FROM events WHERE {' AND '.join(where)} "
            f"ORDER BY seq LIMIT {_PAGE}"
        )
        try:
            return connection.execute(query, params).fetchall()
        except sqlite3.Error as e:
            raise translate(self.path, e) from e

    async def _rows(
        self, after: int, types: Collection[str] | None, track: str | None
    ) -> AsyncIterator[StoredRow]:
        type_list = sorted(types) if types is not None else None
        connection = await anyio.to_thread.run_sync(self._reader)
        try:
            while True:
                page = await anyio.to_thread.run_sync(
                    self._page, connection, after, type_list, track
                )
                for values in page:
                    yield StoredRow(*values)
                if len(page) < _PAGE:
                    return
                after = page[-1][0]
        finally:
            connection.close()

    async def read(
        self,
        *,
        after: int = 0,
        types: Collection[str] | None = None,
        track: str | None = None,
    ) -> AsyncIterator[Recorded]:
        async for row in self._rows(after, types, track):
            yield to_recorded(self.codec, row)

    async def read_rows(
        self,
        *,
        after: int = 0,
        types: Collection[str] | None = None,
        track: str | None = None,
    ) -> AsyncIterator[StoredRow]:
        async for row in self._rows(after, types, track):
            yield row

    def iter_rows(self, *, after: int = 0) -> Iterator[StoredRow]:
        """Blocking iteration for bulk work in a worker thread: one read transaction, paged."""
        connection = self._reader()
        try:
            cursor = connection.execute(
                f"SELECT {_ROW_COLUMNS} FROM events WHERE seq > ? ORDER BY seq", (after,)
            )
            while page := cursor.fetchmany(_PAGE):
                for values in page:
                    yield StoredRow(*values)
        except sqlite3.Error as e:
            raise translate(self.path, e) from e
        finally:
            connection.close()

    def iter_recorded(self, *, after: int = 0) -> Iterator[Recorded]:
        codec = self.codec
        for row in self.iter_rows(after=after):
            yield to_recorded(codec, row)

    async def last_seq(self) -> int:
        def query() -> int:
            connection = self._reader()
            try:
                row = connection.execute("SELECT MAX(seq) FROM events").fetchone()
            except sqlite3.Error as e:
                raise translate(self.path, e) from e
            finally:
                connection.close()
            return int(row[0] or 0)

        return await anyio.to_thread.run_sync(query)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._leader:
            await anyio.to_thread.run_sync(self._writer.close, limiter=self._thread)
