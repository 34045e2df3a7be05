"""An in-memory event store with the same contract as the SQLite one (for tests and handlers)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import anyio
import anyio.lowlevel

from domain.codec import EventCodec
from domain.events import NewEvent
from storage.batch import assign, prepare
from storage.chain import GENESIS
from storage.errors import StoreClosedError
from storage.eventstore import LogReads, RowFilter
from storage.row import StoredRow
from storage.sqlite_rows import row_from_values
from storage.type_codes import TYPE_CODES, TypeNames

_NAMES = TypeNames((code, name) for name, code in TYPE_CODES.items())


class InMemoryEventStore(LogReads):
    def __init__(self, *, clock: Callable[[], int], codec: EventCodec | None = None) -> None:
        self._clock = clock
        self.codec = codec or EventCodec()
        self._rows: list[StoredRow] = []
        self._ids: dict[str, int] = {}
        self._lock = anyio.Lock()
        self._closed = False

    async def append(self, events: Sequence[NewEvent]) -> list[int]:
        if self._closed:
            raise StoreClosedError()
        prepared = prepare(self.codec, events)
        async with self._lock:
            last = self._rows[-1] if self._rows else None
            existing = {
                p.event_id: self._ids[p.event_id] for p in prepared if p.event_id in self._ids
            }
            recorded_at = self._clock()
            assigned = assign(
                [prepared],
                last_seq=last.seq if last else 0,
                last_hash=bytes.fromhex(last.hash if last else GENESIS),
                existing=existing,
                recorded_at=recorded_at,
            )
            await anyio.lowlevel.checkpoint()
            for values in assigned.rows(recorded_at):  # read back as the SQL stores would
                row = row_from_values(values, _NAMES)
                self._rows.append(row)
                self._ids[row.event_id] = row.seq
        return assigned.results[0]

    async def _fetch_page(self, wanted: RowFilter, limit: int) -> list[StoredRow]:
        await anyio.lowlevel.checkpoint()
        page = []
        for row in self._rows[wanted.after :]:
            if wanted.matches(row):
                page.append(row)
                if len(page) == limit:
                    break
        return page

    def iter_rows(self, *, after: int = 0) -> Iterator[StoredRow]:
        yield from self._rows[max(after, 0) :]

    def hash_at(self, seq: int) -> str | None:
        if seq == 0:
            return GENESIS
        return self._rows[seq - 1].hash if 0 < seq <= len(self._rows) else None

    async def last_seq(self) -> int:
        return len(self._rows)

    async def aclose(self) -> None:
        self._closed = True

    def tamper(self, seq: int, row: StoredRow) -> None:
        """Replace a stored row behind the chain's back (tests of verification only)."""
        self._rows[seq - 1] = row
