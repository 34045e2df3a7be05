"""An in-memory event store with the same contract as the SQLite one (for tests and handlers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence

import anyio
import anyio.lowlevel

from domain.codec import EventCodec
from domain.events import NewEvent, Recorded
from storage.chain import GENESIS, StoredRow
from storage.errors import StoreClosedError
from storage.eventstore import PreparedRow, assign, prepare, to_recorded


class InMemoryEventStore:
    def __init__(self, *, clock: Callable[[], int], codec: EventCodec | None = None) -> None:
        self._clock = clock
        self.codec = codec or EventCodec()
        self._rows: list[PreparedRow] = []
        self._ids: dict[str, int] = {}
        self._lock = anyio.Lock()
        self._closed = False

    async def append(self, events: Sequence[NewEvent]) -> list[int]:
        if self._closed:
            raise StoreClosedError()
        prepared = prepare(self.codec, events)
        async with self._lock:
            last = self._rows[-1].row if self._rows else None
            existing = {
                p.event_id: self._ids[p.event_id] for p in prepared if p.event_id in self._ids
            }
            rows, results = assign(
                [prepared],
                last_seq=last.seq if last else 0,
                last_hash=last.hash if last else GENESIS,
                existing=existing,
                recorded_at=self._clock(),
            )
            await anyio.lowlevel.checkpoint()
            self._rows.extend(rows)
            self._ids.update((r.row.event_id, r.row.seq) for r in rows)
        return results[0]

    async def read(
        self,
        *,
        after: int = 0,
        types: Collection[str] | None = None,
        track: str | None = None,
    ) -> AsyncIterator[Recorded]:
        async for row in self.read_rows(after=after, types=types, track=track):
            yield to_recorded(self.codec, row)

    async def read_rows(
        self,
        *,
        after: int = 0,
        types: Collection[str] | None = None,
        track: str | None = None,
    ) -> AsyncIterator[StoredRow]:
        wanted = frozenset(types) if types is not None else None
        index = max(after, 0)
        while index < len(self._rows):
            prepared = self._rows[index]
            index += 1
            if wanted is not None and prepared.row.type not in wanted:
                continue
            if track is not None and prepared.track != track:
                continue
            yield prepared.row
            await anyio.lowlevel.checkpoint()

    def iter_rows(self, *, after: int = 0) -> Iterator[StoredRow]:
        for prepared in self._rows[after:]:
            yield prepared.row

    def iter_recorded(self, *, after: int = 0) -> Iterator[Recorded]:
        for row in self.iter_rows(after=after):
            yield to_recorded(self.codec, row)

    async def last_seq(self) -> int:
        return len(self._rows)

    async def aclose(self) -> None:
        self._closed = True

    def tamper(self, seq: int, row: StoredRow) -> None:
        """Replace a stored row behind the chain's back (tests of verification only)."""
        self._rows[seq - 1] = PreparedRow(row, self._rows[seq - 1].track)
