"""The read side of the PostgreSQL event store.

Every read is a single statement in autocommit mode: a page of rows by sequence number, so a reader
never holds a transaction open between pages and never loads the whole log. Appends are
serialised by the append lock and each is visible before the next can take it, so a reader
never sees sequence number N+1 before N: pages have no gaps.

Async pages share one connection, used by one task at a time. The blocking iterators (bulk
replay and verification, in a worker thread) open a connection of their own for the walk; the
blocking point look-ups (`hash_at`) share one, lazily opened, behind a thread lock. Rows are
fetched in binary, as the same Python values the SQLite reader gets, so replay verifies them on
the same fast path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Final

import anyio
import psycopg

from domain.codec import EventCodec
from domain.events import Recorded
from storage.chain import GENESIS, ChainWalk
from storage.errors import ChainBrokenError, StoreClosedError
from storage.eventstore import RowFilter
from storage.location import PgUrl
from storage.pg_errors import translate
from storage.row import COLUMNS, StoredRow
from storage.sqlite_reader import _verified, _why
from storage.sqlite_rows import row_from_values

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM events"
#: Rows per page of the blocking walks.
WALK_PAGE: Final = 5000


class PgReader:
    def __init__(
        self,
        where: PgUrl,
        connection: psycopg.AsyncConnection[Any],
        connect_sync: Callable[[], psycopg.Connection[Any]],
    ) -> None:
        self.where = where
        self._connection = connection
        self._connect_sync = connect_sync
        self._lock = anyio.Lock()
        self._sync: psycopg.Connection[Any] | None = None
        self._sync_lock = threading.Lock()
        self._closed = False

    async def fetch_page(self, wanted: RowFilter, limit: int) -> list[StoredRow]:
        query, params = _page_query(wanted, limit)
        async with self._lock:
            if self._closed:
                raise StoreClosedError()
            try:
                cursor = self._connection.cursor(binary=True)
                await cursor.execute(query, params)
                page = await cursor.fetchall()
            except psycopg.Error as e:
                raise translate(self.where, e) from e
        return [row_from_values(tuple(values)) for values in page]

    def _pages(self, after: int) -> Iterator[list[tuple[Any, ...]]]:
        """The rows after `after`, page by page, on a connection of the walk's own."""
        try:
            with self._connect_sync() as connection:
                cursor = connection.cursor(binary=True)
                while True:
                    cursor.execute(
                        f"{_SELECT} WHERE seq > %s ORDER BY seq LIMIT {WALK_PAGE}", (after,)
                    )
                    page = cursor.fetchall()
                    if page:
                        yield page
                    if len(page) < WALK_PAGE:
                        return
                    after = page[-1][0]
        except psycopg.Error as e:
            raise translate(self.where, e) from e

    def iter_rows(self, *, after: int = 0) -> Iterator[StoredRow]:
        for page in self._pages(after):
            for values in page:
                yield row_from_values(values)

    def iter_recorded(self, codec: EventCodec, *, after: int) -> Iterator[Recorded]:
        """Bulk replay: every row verified against the chain on its stored values and decoded
        (the SQLite reader's path: the values are of the same kinds); ChainBrokenError at the
        first row that fails."""
        prev = self.hash_at(after)
        if prev is None:
            raise ChainBrokenError(after, "no such row (the log was cut short?)")
        walk = ChainWalk(prev_hash=prev, next_seq=after + 1)
        for page in self._pages(after):
            for values in page:
                recorded = _verified(walk, codec, values)
                if recorded is None:
                    raise ChainBrokenError(*_why(walk))
                yield recorded

    def hash_at(self, seq: int) -> str | None:
        if seq == 0:
            return GENESIS
        with self._sync_lock:
            if self._closed:
                raise StoreClosedError()
            try:
                if self._sync is None or self._sync.broken:
                    self._sync = self._connect_sync()
                found = self._sync.execute(
                    "SELECT hash FROM events WHERE seq = %s", (seq,)
                ).fetchone()
            except psycopg.Error as e:
                raise translate(self.where, e) from e
        return None if found is None else bytes(found[0]).hex()

    async def last_seq(self) -> int:
        async with self._lock:
            if self._closed:
                raise StoreClosedError()
            try:
                cursor = await self._connection.execute("SELECT MAX(seq) FROM events")
                row = await cursor.fetchone()
            except psycopg.Error as e:
                raise translate(self.where, e) from e
        return int(row[0] or 0) if row else 0

    async def aclose(self) -> None:
        async with self._lock:
            self._closed = True
            await self._connection.close()
        with self._sync_lock:
            if self._sync is not None:
                self._sync.close()
                self._sync = None


def _page_query(wanted: RowFilter, limit: int) -> tuple[str, list[Any]]:
    where = ["seq > %s"]
    params: list[Any] = [wanted.after]
    if wanted.types is not None:
        where.append("type = ANY(%s::text[])")
        params.append(sorted(wanted.types))
    if wanted.track is not None:
        where.append("track = %s")
        params.append(wanted.track)
    return f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY seq LIMIT {int(limit)}", params
