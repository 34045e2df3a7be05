"""The PostgreSQL event store: the writer (`pg_writer`, group commit in one statement) and the
reader (`pg_reader`, paged reads in autocommit) behind the `EventStore` port, plus `changes()`,
the log's change feed (`LISTEN` on the channel every commit notifies). Written with SQLAlchemy
Core over the tables of `storage.schema`, on the store's engines (`storage.pg_engine`).

One log per schema: the tables live in the connection's `current_schema()` (the `public`
schema unless the URL sets `options=-csearch_path=…`), and the append lock, the service lock and
the notification channel are keyed on it, so logs in different schemas do not meet.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Final

import anyio
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.codec import EventCodec
from domain.events import NewEvent, Recorded
from storage.batch import prepare
from storage.errors import StoreClosedError, StoreError
from storage.eventstore import LogReads, RowFilter
from storage.location import PgUrl
from storage.migrate import ensure_schema
from storage.pg_engine import DIALECT, DRIVER_ERRORS, PgEngines, driver_connection
from storage.pg_errors import translate
from storage.pg_reader import PgReader
from storage.pg_writer import PgWriter, channel
from storage.row import StoredRow

logger = logging.getLogger(__name__)

#: How long an append waits for the append lock before DatabaseBusyError.
BUSY_TIMEOUT_S: Final = 5.0


class PgEventStore(LogReads):
    def __init__(
        self,
        where: PgUrl,
        writer: PgWriter,
        reader: PgReader,
        engine: AsyncEngine,
        *,
        codec: EventCodec,
        channel: str,
    ) -> None:
        self.path = where
        self.codec = codec
        self.channel = channel
        self._writer = writer
        self._reader = reader
        self._engine = engine
        self._closed = False

    @classmethod
    async def open(
        cls,
        where: PgUrl,
        *,
        clock: Callable[[], int],
        codec: EventCodec | None = None,
        migrate: bool = True,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> PgEventStore:
        """Open the log in the database at `where` (which must exist), migrating its schema
        when allowed; `migrate=False` refuses one not at the head revision."""
        await ensure_schema(where, upgrade=migrate)
        engines = PgEngines(where, busy_timeout_s=busy_timeout_s, name="tierbuffer")
        engine = engines.async_engine()
        try:
            reading = await engine.connect()
        except DRIVER_ERRORS as e:
            await engine.dispose()
            raise translate(where, e) from e
        try:
            await reading.execution_options(isolation_level="AUTOCOMMIT")
            name = str((await reading.execute(select(channel()))).scalar_one())
        except DRIVER_ERRORS as e:
            await reading.close()
            await engine.dispose()
            raise translate(where, e) from e
        writer = PgWriter(where, engine, clock=clock, channel=name)
        reader = PgReader(where, reading, engines.sync_engine())
        return cls(where, writer, reader, engine, codec=codec or EventCodec(), channel=name)

    async def append(self, events: Sequence[NewEvent]) -> list[int]:
        if self._closed:
            raise StoreClosedError()
        if not events:
            return []
        return await self._writer.append(prepare(self.codec, events))

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

    async def changes(self) -> AsyncIterator[int]:
        """0 once listening, then the head's sequence number after each commit to the log by
        anyone (any process, any host), as PostgreSQL delivers its notifications; commits close
        together may arrive as one. Ends with a StoreError when the listening connection is
        lost (`storage.eventstore.ChangeFeed`)."""
        listen = text(f"LISTEN {DIALECT.identifier_preparer.quote(self.channel)}")
        try:
            connection = await self._engine.connect()
        except DRIVER_ERRORS as e:
            raise translate(self.path, e) from e
        try:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(listen)
            driver = driver_connection(await connection.get_raw_connection())
            yield 0
            async for note in driver.notifies():
                yield int(note.payload) if note.payload.isdigit() else 0
        except DRIVER_ERRORS as e:
            raise translate(self.path, e) from e
        finally:
            with anyio.CancelScope(shield=True):
                # Closed, not pooled: a connection still listening is nobody else's.
                await connection.invalidate()
                await connection.close()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._writer.aclose()
        except StoreError:
            logger.warning("closing the log's writer on %s failed", self.path)
        await self._reader.aclose()
        await self._engine.dispose()
