"""The read side of the SQLite event store.

Reads use their own short-lived connections and page through the log by sequence number, so a
reader never holds a long transaction and never loads the whole log. Async pages share one read
connection, used by one worker thread at a time; no cursor stays open between pages, so
concurrent readers interleave safely. Bulk iteration (replay, verification) runs in a worker
thread on a connection of its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio

from domain.codec import EventCodec
from domain.events import Recorded, track_of
from storage.chain import GENESIS, ChainWalk
from storage.errors import ChainBrokenError, MalformedRowError, StoreClosedError
from storage.eventstore import TRACK_MISMATCH, RowFilter, to_recorded
from storage.row import STORED_COLUMNS, StoredRow
from storage.sqlite_file import connect_read_only, translate
from storage.sqlite_rows import row_from_values
from storage.type_codes import SELECT_NAMES, TypeNames

_SELECT = f"SELECT {', '.join(STORED_COLUMNS)} FROM events"


class SqliteReader:
    def __init__(self, path: Path, *, busy_timeout_s: float) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._limiter = anyio.CapacityLimiter(1)
        self._shared: sqlite3.Connection | None = None
        self._names = TypeNames()
        self._closed = False

    def connect(self) -> sqlite3.Connection:
        """A connection that cannot write and leaves no -wal/-shm behind (a read-only folder
        or file included)."""
        return connect_read_only(self.path, busy_timeout_s=self._busy_timeout_s)

    async def fetch_page(self, wanted: RowFilter, limit: int) -> list[StoredRow]:
        return await anyio.to_thread.run_sync(
            self._shared_page, wanted, limit, limiter=self._limiter
        )

    def _shared_page(self, wanted: RowFilter, limit: int) -> list[StoredRow]:
        if self._shared is None:
            if self._closed:
                raise StoreClosedError()
            self._shared = self.connect()
        query, params = _page_query(wanted, limit)
        try:
            page = self._shared.execute(query, params).fetchall()
            if self._names.missing(values[2] for values in page):
                self._names.load(self._shared.execute(SELECT_NAMES))
        except sqlite3.Error as e:
            raise translate(self.path, e) from e
        return [row_from_values(values, self._names) for values in page]

    def iter_rows(self, *, after: int = 0) -> Iterator[StoredRow]:
        """Blocking iteration for bulk work in a worker thread: one read transaction, paged."""
        connection = self.connect()
        try:
            names = TypeNames(connection.execute(SELECT_NAMES))
            cursor = connection.execute(f"{_SELECT} WHERE seq > ? ORDER BY seq", (after,))
            while page := cursor.fetchmany(2000):
                for values in page:
                    yield row_from_values(values, names)
        except sqlite3.Error as e:
            raise translate(self.path, e) from e
        finally:
            connection.close()

    def iter_recorded(self, codec: EventCodec, *, after: int) -> Iterator[Recorded]:
        """Bulk replay: every row verified against the chain on its stored values, decoded,
        without building a `StoredRow`; ChainBrokenError at the first row that fails. A row
        whose values are not of the kinds we write (`_SOUND`) goes the slow way, which names
        the column."""
        prev = self.hash_at(after)
        if prev is None:
            raise ChainBrokenError(after, "no such row (the log was cut short?)")
        walk = ChainWalk(prev_hash=prev, next_seq=after + 1)
        connection = self.connect()
        try:
            names = TypeNames(connection.execute(SELECT_NAMES))
            cursor = connection.execute(f"{_SELECT} WHERE seq > ? ORDER BY seq", (after,))
            while page := cursor.fetchmany(2000):
                for values in page:
                    recorded = _verified(walk, codec, names, values)
                    if recorded is None:
                        raise ChainBrokenError(*_why(walk))
                    yield recorded
        except sqlite3.Error as e:
            raise translate(self.path, e) from e
        finally:
            connection.close()

    def hash_at(self, seq: int) -> str | None:
        if seq == 0:
            return GENESIS
        connection = self.connect()
        try:
            found = connection.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
        except sqlite3.Error as e:
            raise translate(self.path, e) from e
        finally:
            connection.close()
        if found is None:
            return None
        digest = found[0]
        return digest.hex() if isinstance(digest, bytes) else str(digest)

    async def last_seq(self) -> int:
        def query() -> int:
            connection = self.connect()
            try:
                row = connection.execute("SELECT MAX(seq) FROM events").fetchone()
            except sqlite3.Error as e:
                raise translate(self.path, e) from e
            finally:
                connection.close()
            return int(row[0] or 0)

        return await anyio.to_thread.run_sync(query)

    async def aclose(self) -> None:
        self._closed = True
        async with self._limiter:
            if self._shared is not None:
                self._shared.close()
                self._shared = None


def _verified(
    walk: ChainWalk, codec: EventCodec, names: TypeNames, values: tuple[Any, ...]
) -> Recorded | None:
    """The event of one row if it verifies as the walk's next (None: the walk broke there)."""
    seq, raw_id, code, version, occurred_at, lag, payload, digest, track, chain = values
    kind = names.raw.get(code)
    if (  # the kinds the writer stores (an INTEGER column keeps any REAL that is not whole)
        chain != 2
        or kind is None
        or type(code) is not int
        or type(raw_id) is not bytes
        or type(payload) is not bytes
        or type(digest) is not bytes
        or type(version) is not int
        or type(occurred_at) is not int
        or type(lag) is not int
        or (track is not None and type(track) is not str)
    ):
        return _verified_slowly(walk, codec, names, values)
    id_hex = raw_id.hex()
    recorded_at = occurred_at + lag
    if not walk.step_current(
        seq,
        id_hex.encode(),
        kind,
        version,
        occurred_at,
        recorded_at,
        track,
        payload,
        digest,
    ):
        return None
    event_id = f"{id_hex[:8]}-{id_hex[8:12]}-{id_hex[12:16]}-{id_hex[16:20]}-{id_hex[20:]}"
    event = codec.decode(names.text[code], version, payload)
    return Recorded(seq, event_id, occurred_at, recorded_at, event)


def _verified_slowly(
    walk: ChainWalk, codec: EventCodec, names: TypeNames, values: tuple[Any, ...]
) -> Recorded | None:
    """Rows of chain format 1, and values we never write (named by MalformedRowError)."""
    try:
        row = row_from_values(values, names)
    except MalformedRowError as e:
        walk.fail(e.seq, e.reason)
        return None
    if not walk.accept(row):
        return None
    recorded = to_recorded(codec, row)
    if track_of(recorded.event) != row.track:
        walk.fail(row.seq, TRACK_MISMATCH)
        return None
    return recorded


def _why(walk: ChainWalk) -> tuple[int, str]:
    assert walk.broken is not None
    return walk.broken.seq, walk.broken.reason


def _page_query(wanted: RowFilter, limit: int) -> tuple[str, list[Any]]:
    where = ["seq > ?"]
    params: list[Any] = [wanted.after]
    if wanted.types is not None:
        types = sorted(wanted.types)
        marks = ",".join("?" * len(types))
        where.append(f"type_code IN (SELECT code FROM event_types WHERE name IN ({marks}))")
        params.extend(types)
    if wanted.track is not None:
        where.append("track = ?")
        params.append(wanted.track)
    return f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY seq LIMIT {int(limit)}", params
