"""The PostgreSQL event store: the writer (`pg_writer`, group commit in one statement) and the
reader (`pg_reader`, paged reads in autocommit) behind the `EventStore` port, plus `changes()`,
the log's change feed (`LISTEN` on the channel every commit notifies).

One log per schema: the tables live in the connection's `current_schema()` (the `public`
schema unless the URL sets `options=-csearch_path=…`), and the append lock, the service lock and
the notification channel are keyed on it, so logs in different schemas do not meet.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Final

import anyio
import psycopg

from domain.codec import EventCodec
from domain.events import NewEvent, Recorded
from storage.batch import prepare
from storage.errors import StoreClosedError, StoreError
from storage.eventstore import LogReads, RowFilter
from storage.location import PgUrl
from storage.migrate import ensure_schema
from storage.pg_errors import translate
from storage.pg_reader import PgReader
from storage.pg_writer import PgWriter, channel_sql
from storage.row import StoredRow

logger = logging.getLogger(__name__)

#: How long an append waits for the append lock before DatabaseBusyError.
BUSY_TIMEOUT_S: Final = 5.0


class PgConnector:
    """Opens connections to one database, with the settings every store connection has."""

    def __init__(self, where: PgUrl, *, busy_timeout_s: float, name: str) -> None:
        self.where = where
        given = psycopg.conninfo.conninfo_to_dict(where.url).get("options") or ""
        # Added to the URL's own options (a search_path, say), not in their place.
        self._options = f"{given} -c lock_timeout={int(busy_timeout_s * 1000)}".strip()
        self._name = name

    def _kwargs(self) -> dict[str, Any]:
        return {"autocommit": True, "application_name": self._name, "options": self._options}

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        try:
            return await psycopg.AsyncConnection.connect(self.where.url, **self._kwargs())
        except psycopg.Error as e:
            raise translate(self.where, e) from e

    def connect_sync(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.where.url, **self._kwargs())
        except psycopg.Error as e:
            raise translate(self.where, e) from e


class PgEventStore(LogReads):
    def __init__(
        self,
        where: PgUrl,
        writer: PgWriter,
        reader: PgReader,
        connector: PgConnector,
        *,
        codec: EventCodec,
        channel: str,
    ) -> None:
        self.path = where
        self.codec = codec
        self.channel = channel
        self._writer = writer
        self._reader = reader
        self._connector = connector
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
        connector = PgConnector(where, busy_timeout_s=busy_timeout_s, name="tierbuffer")
        reading = await connector.connect()
        try:
            cursor = await reading.execute(f"SELECT {channel_sql()}")
            found = await cursor.fetchone()
        except psycopg.Error as e:
            await reading.close()
            raise translate(where, e) from e
        channel = str(found[0]) if found else "tierbuffer_events"
        writer = PgWriter(where, connector.connect, clock=clock, channel=channel)
        reader = PgReader(where, reading, connector.connect_sync)
        return cls(where, writer, reader, connector, codec=codec or EventCodec(), channel=channel)

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
        connection = await self._connector.connect()
        try:
            await connection.execute(
                psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(self.channel))
            )
            yield 0
            async for note in connection.notifies():
                yield int(note.payload) if note.payload.isdigit() else 0
        except psycopg.Error as e:
            raise translate(self.path, e) from e
        finally:
            with anyio.CancelScope(shield=True):
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
