"""The write side of the SQLite event store: group commit, on the event loop when it can.

Appends are prepared (validated, encoded) by their callers and gathered: the first append of a
loop iteration schedules a flush for the next one, and every append that arrives meanwhile joins
it, so appends that arrive together share one `BEGIN IMMEDIATE` transaction (group commit).
The flush commits on the event loop's own thread when the write lock is free at once and the
group is small; a group that is large, or that finds another process holding the lock, goes to
the writer thread, which waits for the lock up to the busy timeout. Measured here, handing a
commit to a thread and back costs more than the commit itself (see bench/append.py), and an
uncontended small commit takes tens of microseconds, less than a wake-up. At synchronous=FULL a
commit waits for an fsync, so every group goes to the thread (`inline=False`), which takes every
group queued while it commits and syncs into its next commit. A group's rows go in as multi-row
INSERTs (`_insert`), not one statement run per row.

Whoever commits answers the callers only after COMMIT returned and the database file and its WAL
are still the files the store opened (`FileIdentity`): an append that went to a deleted or
replaced file is not acknowledged, and the store stops writing. A caller that is cancelled while
waiting is simply not answered; its events may or may not have been committed, and retrying with
the same event ids is safe.

The chain head (last sequence number and hash) is kept in memory after each commit and re-read
inside the write lock only when `PRAGMA data_version` says another connection committed since,
so several processes can append to one file and the chain is always extended under the lock.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import Final

from storage.batch import Assigned, Prepared, assign
from storage.chain import GENESIS_DIGEST
from storage.checkpoint import Checkpointer
from storage.errors import DatabaseError, DatabaseReplacedError, MalformedRowError, StoreError
from storage.row import STORED_COLUMNS
from storage.sqlite_file import BUSY_CODES, FileIdentity, primary_code, translate, wal_path
from storage.sqlite_rows import id_bytes, id_text

#: Rows per INSERT statement at most: the largest power of two whose parameters stay within
#: 999, the limit of SQLite before 3.32 (64 rows of 10 columns).
MAX_INSERT_ROWS: Final[int] = 1 << ((999 // len(STORED_COLUMNS)).bit_length() - 1)
_ID_CHUNK = 500
#: Groups larger than this commit on the writer thread, so the event loop is never held long.
INLINE_EVENTS: Final[int] = 256
#: A WAL larger than this is checkpointed and truncated at once (64 MiB).
WAL_CAP_BYTES: Final[int] = 64 * 1024 * 1024

Outcome = list[list[int]] | BaseException
Answer = asyncio.Future[list[int]]


class _Group:
    """Appends gathered for one commit: each caller's batch and the future it waits on, side by
    side (a future knows its loop), and how many events they hold."""

    __slots__ = ("batches", "futures", "events")

    def __init__(self) -> None:
        self.batches: list[list[Prepared]] = []
        self.futures: list[Answer] = []
        self.events = 0

    def add(self, prepared: list[Prepared], future: Answer) -> None:
        self.batches.append(prepared)
        self.futures.append(future)
        self.events += len(prepared)

    def extend(self, other: _Group) -> None:
        self.batches.extend(other.batches)
        self.futures.extend(other.futures)
        self.events += other.events


class _Busy(Exception):
    """The write lock is held elsewhere and this attempt does not wait for it."""


class SqliteWriter:
    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        *,
        clock: Callable[[], int],
        busy_timeout_s: float,
        wal_cap_bytes: int = WAL_CAP_BYTES,
        idle_checkpoint_s: float = 5.0,
        inline: bool = True,
    ) -> None:
        self.path = path
        self._connection = connection
        try:  # a first read opens the WAL (waiting as long as the busy timeout allows)
            connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.Error as e:
            raise translate(path, e) from e
        connection.execute("PRAGMA busy_timeout=0")  # from now on the writer thread waits
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._wal_cap = wal_cap_bytes
        self._inline = inline
        self._database = FileIdentity(path)
        self._wal = FileIdentity(wal_path(path))
        self._lock = threading.Lock()  # who uses the connection: the loop or the thread
        self._pending = _Group()
        self._scheduled = False
        self._home: asyncio.AbstractEventLoop | None = None
        self._head: tuple[int, bytes] | None = None
        self._data_version = -1
        self._failed: StoreError | None = None
        self._queue: queue.SimpleQueue[_Group | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._write_loop, name=f"tierbuffer-writer:{path.name}", daemon=True
        )
        self._thread.start()
        self._checkpointer = Checkpointer(
            path, busy_timeout_s=busy_timeout_s, idle_s=idle_checkpoint_s
        )

    def submit(self, prepared: list[Prepared]) -> Answer:
        """Gather a prepared batch into the next commit; the future its caller awaits for its
        sequence numbers (a plain function, so an append resumes one coroutine, not two)."""
        if self._failed is not None:
            raise self._failed
        loop = asyncio.get_running_loop()
        future: Answer = loop.create_future()
        if self._home is None:
            self._home = loop
        if loop is not self._home:  # another thread's loop: the writer thread serves it
            alone = _Group()
            alone.add(prepared, future)
            self._queue.put(alone)
        else:
            self._pending.add(prepared, future)
            if not self._scheduled:
                self._scheduled = True
                loop.call_soon(self._flush)
        return future

    def flush(self) -> None:
        """Commit or hand on what is gathered now (before closing)."""
        if self._scheduled:
            self._flush()

    def close(self) -> None:
        """Commit what was handed to the thread, stop the threads, close (blocking)."""
        self._queue.put(None)
        self._thread.join()
        self._checkpointer.close()
        self._connection.close()

    # --- the two places a group is committed ------------------------------------------------

    def _flush(self) -> None:
        """On the event loop: commit the gathered group here if the lock is free at once."""
        self._scheduled = False
        group, self._pending = self._pending, _Group()
        if not group.futures:
            return
        small = group.events <= INLINE_EVENTS
        if self._inline and small and self._lock.acquire(blocking=False):
            try:
                outcome = self._commit(group.batches, wait=False)
            except _Busy:
                outcome = None
            finally:
                self._lock.release()
            if outcome is not None:
                _resolve(group.futures, outcome)
                return
        self._queue.put(group)

    def _write_loop(self) -> None:
        """The writer thread: commit everything handed to it, answer its callers, repeat."""
        while True:
            group = self._queue.get()
            if group is None:
                return
            stop = False
            while not self._queue.empty():  # only this thread takes from the queue
                more = self._queue.get()
                if more is None:
                    stop = True
                    break
                group.extend(more)
            with self._lock:
                outcome = self._commit(group.batches, wait=True)
            _answer(group.futures, outcome)
            if stop:
                return

    def _commit(self, batches: list[list[Prepared]], *, wait: bool) -> Outcome:
        """One transaction for the batches and the checks before it may be acknowledged."""
        if self._failed is not None:
            return self._failed
        try:
            results = self._write(batches, self._clock(), wait=wait)
            self._check_files()
        except _Busy:
            raise
        except StoreError as e:
            return e
        except Exception as e:  # a driver error not raised as sqlite3.Error: still answered
            return translate(self.path, e)
        self._checkpointer.committed()
        return results

    def _check_files(self) -> None:
        """The files committed to are still the store's; a WAL over the cap is truncated.
        When they are not, the log as this connection still sees it (the deleted or replaced
        files stay open) is copied beside the database first, so what was acknowledged is kept."""
        try:
            self._database.check(self.path)
            wal = self._wal.check(self.path)
        except DatabaseReplacedError as e:
            self._failed = DatabaseReplacedError(self.path, e.what, e.how, self._rescue())
            raise self._failed from e
        except StoreError as e:
            self._failed = e
            raise
        if wal.st_size > self._wal_cap:
            self._checkpointer.urgent()

    def _rescue(self) -> Path | None:
        """A copy of the whole log through this connection (SQLite's backup API), or None."""
        target = self.path.with_name(f"{self.path.name}.rescued-{self._clock()}")
        try:
            copy = sqlite3.connect(str(target))
            try:
                self._connection.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")
            finally:
                copy.close()
        except (sqlite3.Error, OSError):
            return None
        return target

    # --- the transaction ----------------------------------------------------------------------

    def _write(
        self, batches: list[list[Prepared]], recorded_at: int, *, wait: bool
    ) -> list[list[int]]:
        """Optimistic: insert as if no event id were stored yet (`ON CONFLICT DO NOTHING`); only
        when the insert count shows a retried id does it roll back and look the stored ids up."""
        cursor = self._connection.cursor()
        try:
            assigned = self._transaction(cursor, batches, recorded_at, wait=wait, lookup=False)
            if assigned is None:
                assigned = self._transaction(cursor, batches, recorded_at, wait=wait, lookup=True)
            assert assigned is not None
            return assigned.results
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
        wait: bool,
        lookup: bool,
    ) -> Assigned | None:
        self._begin(cursor, wait=wait)
        try:
            existing = _stored_ids(cursor, batches) if lookup else {}
            last_seq, last_hash = self._chain_head(cursor)
            assigned = assign(
                batches,
                last_seq=last_seq,
                last_hash=last_hash,
                existing=existing,
                recorded_at=recorded_at,
            )
            values = assigned.rows(recorded_at)
            if _insert(cursor, values) != len(values):
                cursor.execute("ROLLBACK")
                if lookup:
                    raise DatabaseError(self.path, "event ids changed under a write lock")
                return None
            cursor.execute("COMMIT")
        except BaseException:
            self._head = None
            if self._connection.in_transaction:
                cursor.execute("ROLLBACK")
            raise
        self._head = (assigned.head_seq, assigned.head)
        return assigned

    def _begin(self, cursor: sqlite3.Cursor, *, wait: bool) -> None:
        """BEGIN IMMEDIATE; without `wait`, _Busy at once when another holds the lock."""
        deadline = time.monotonic() + self._busy_timeout_s
        delay = 0.001
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if primary_code(e) not in BUSY_CODES:
                    raise
                if not wait:
                    raise _Busy() from e
                if time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _chain_head(self, cursor: sqlite3.Cursor) -> tuple[int, bytes]:
        """The last row's seq and hash: from memory, unless another connection committed."""
        version = cursor.execute("PRAGMA data_version").fetchone()[0]
        if self._head is not None and version == self._data_version:
            return self._head
        self._data_version = version
        last = cursor.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        if last is None:
            return 0, GENESIS_DIGEST
        seq, digest = last
        if type(digest) is not bytes or len(digest) != 32:
            raise MalformedRowError(seq, "its hash is not a 32-byte digest: cannot chain onto it")
        return seq, digest


@functools.cache
def _insert_rows(count: int) -> str:
    """The INSERT of `count` rows in one statement (a retried id is skipped, not an error)."""
    row = f"({','.join('?' * len(STORED_COLUMNS))})"
    return (
        f"INSERT INTO events ({', '.join(STORED_COLUMNS)}) VALUES {','.join([row] * count)} "
        "ON CONFLICT(event_id) DO NOTHING"
    )


def _insert(cursor: sqlite3.Cursor, values: list[tuple[object, ...]]) -> int:
    """Insert the rows; how many went in. Several rows per statement cost SQLite and the driver
    less than a statement run per row (`executemany`); statements of powers of two rows (at most
    MAX_INSERT_ROWS) keep the statements few enough for the connection's statement cache."""
    inserted, start, left = 0, 0, len(values)
    while left:
        count = min(MAX_INSERT_ROWS, 1 << (left.bit_length() - 1))
        chunk = values[start : start + count]
        cursor.execute(
            _insert_rows(count), chunk[0] if count == 1 else list(chain.from_iterable(chunk))
        )
        inserted += cursor.rowcount
        start, left = start + count, left - count
    return inserted


def _stored_ids(cursor: sqlite3.Cursor, batches: list[list[Prepared]]) -> dict[str, int]:
    ids = list({p.event_id for batch in batches for p in batch})
    existing: dict[str, int] = {}
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        marks = ",".join("?" * len(chunk))
        query = f"SELECT event_id, seq FROM events WHERE event_id IN ({marks})"
        found = cursor.execute(query, [id_bytes(i) for i in chunk]).fetchall()
        existing.update((id_text(raw), seq) for raw, seq in found)
    return existing


def _answer(futures: list[Answer], outcome: Outcome) -> None:
    """From the writer thread: resolve the futures, one callback per event loop involved."""
    loops: dict[asyncio.AbstractEventLoop, list[int]] = {}
    for index, future in enumerate(futures):
        loops.setdefault(future.get_loop(), []).append(index)
    for loop, indices in loops.items():
        if len(loops) == 1:
            mine, answer = futures, outcome
        else:
            mine = [futures[i] for i in indices]
            answer = outcome if not isinstance(outcome, list) else [outcome[i] for i in indices]
        try:
            loop.call_soon_threadsafe(_resolve, mine, answer)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            continue


def _resolve(futures: list[Answer], outcome: Outcome) -> None:
    """On the futures' loop: each caller gets its sequence numbers, or every caller the commit's
    error; a caller that was cancelled meanwhile is not answered."""
    if isinstance(outcome, BaseException):
        for future in futures:
            if not future.done():
                future.set_exception(outcome)
        return
    for future, seqs in zip(futures, outcome, strict=True):
        if not future.done():
            future.set_result(seqs)
