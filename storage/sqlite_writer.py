"""The write side of the SQLite event store: one writer thread, group commit.

Appends are prepared (validated, encoded) by their callers and queued to one writer thread that
owns the write connection. The thread takes everything queued, commits it as one
`BEGIN IMMEDIATE` transaction, and answers every caller of that commit at once: appends that
arrive together share one commit (group commit). A caller is answered only after the commit
that holds its events. A caller that is cancelled while waiting is simply not answered; its
events may or may not have been committed, and retrying with the same event ids is safe.

A dedicated thread rather than `anyio.to_thread` per commit: measured here, a round trip through
`to_thread` costs about 90 µs against 33 µs for a queue to our own thread, and that difference
is most of the cost of a single-event append.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from storage.chain import GENESIS
from storage.checkpoint import Checkpointer
from storage.errors import DatabaseError, StoreError
from storage.eventstore import Prepared, assign
from storage.row import COLUMNS, StoredRow
from storage.sqlite_file import translate

_INSERT = (
    f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))}) "
    "ON CONFLICT(event_id) DO NOTHING"
)
_ID_CHUNK = 500


class _Request(msgspec.Struct):
    prepared: list[Prepared]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[int]]


_STOP = None


class SqliteWriter:
    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        *,
        clock: Callable[[], int],
        busy_timeout_s: float,
    ) -> None:
        self.path = path
        self._connection = connection
        self._clock = clock
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._write_loop, name=f"tierbuffer-writer:{path.name}", daemon=True
        )
        self._thread.start()
        self._checkpointer = Checkpointer(path, busy_timeout_s=busy_timeout_s)

    async def append(self, prepared: list[Prepared]) -> list[int]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()
        self._queue.put(_Request(prepared, loop, future))
        return await future

    def close(self) -> None:
        """Commit what is queued, stop the threads, close the connection (blocking)."""
        self._queue.put(_STOP)
        self._thread.join()
        self._checkpointer.close()
        self._connection.close()

    def _write_loop(self) -> None:
        """The writer thread: commit everything queued, answer its callers, repeat."""
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
            self._commit(batch)
            self._checkpointer.committed()
            if stop:
                return

    def _commit(self, batch: list[_Request]) -> None:
        try:
            results = self._write([r.prepared for r in batch], self._clock())
        except Exception as e:  # answered to every caller of this commit
            error = e if isinstance(e, StoreError) else translate(self.path, e)
            _answer(batch, [None] * len(batch), error)
            return
        _answer(batch, results, None)

    def _write(self, batches: list[list[Prepared]], recorded_at: int) -> list[list[int]]:
        """One transaction, run on the writer thread.

        Optimistic: insert as if no event id were stored yet (`ON CONFLICT DO NOTHING`); only when
        the insert count shows a retried id does it roll back and look the stored ids up.
        """
        cursor = self._connection.cursor()
        try:
            results = self._transaction(cursor, batches, recorded_at, lookup=False)
            if results is None:
                results = self._transaction(cursor, batches, recorded_at, lookup=True)
            assert results is not None
            return results
        except sqlite3.Error as e:
            raise translate(self.path, e) from e
        finally:
            cursor.close()

    def _transaction(
        self,
        cursor: sqlite3.Cursor,
        batches: list[list[Prepared]],
        recorded_at: int,
        *,
        lookup: bool,
    ) -> list[list[int]] | None:
        cursor.execute("BEGIN IMMEDIATE")
        try:
            existing = _stored_ids(cursor, batches) if lookup else {}
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
            cursor.executemany(_INSERT, [_values(r) for r in rows])
            if rows and cursor.rowcount != len(rows):
                cursor.execute("ROLLBACK")
                if lookup:
                    raise DatabaseError(self.path, "event ids changed under a write lock")
                return None
            cursor.execute("COMMIT")
        except BaseException:
            if self._connection.in_transaction:
                cursor.execute("ROLLBACK")
            raise
        return results


def _stored_ids(cursor: sqlite3.Cursor, batches: list[list[Prepared]]) -> dict[str, int]:
    ids = list({p.event_id for batch in batches for p in batch})
    existing: dict[str, int] = {}
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        marks = ",".join("?" * len(chunk))
        query = f"SELECT event_id, seq FROM events WHERE event_id IN ({marks})"
        existing.update(cursor.execute(query, chunk).fetchall())
    return existing


def _values(row: StoredRow) -> tuple[Any, ...]:
    return msgspec.structs.astuple(row)


def _answer(
    batch: list[_Request], results: Sequence[list[int] | None], error: BaseException | None
) -> None:
    """Resolve the futures of one commit, one callback per event loop involved."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[list[int]], Any]]] = {}
    for request, seqs in zip(batch, results, strict=True):
        by_loop.setdefault(request.loop, []).append((request.future, seqs))
    for loop, answers in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, answers, error)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            continue


def _resolve(
    answers: list[tuple[asyncio.Future[list[int]], Any]], error: BaseException | None
) -> None:
    for future, seqs in answers:
        if future.done():  # the caller was cancelled
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(seqs)
