"""The event store port, and the read side every implementation shares (`LogReads`).

Contract (tests/storage/test_contract.py runs it against every implementation):
- `append(events)` stores a batch atomically and returns its sequence numbers after commit;
- an event id already stored is a no-op returning the stored sequence number;
- sequence numbers are contiguous from 1 and every row chains to its predecessor's hash;
- concurrent appenders never interleave a batch;
- `read` yields events in sequence order, filtered by type and track, without loading the log;
- `iter_recorded` (bulk replay) verifies every row against the chain before it yields its event,
  and raises `ChainBrokenError` at the first that does not verify: nothing altered is folded.
The write side every store shares (validation, encoding, sequence numbers, chain hashes) is in
`storage.batch`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from typing import Protocol, runtime_checkable

import anyio
import msgspec

from domain.codec import EventCodec
from domain.events import NewEvent, Recorded, track_of
from storage.chain import ChainWalk
from storage.errors import ChainBrokenError, MalformedRowError
from storage.row import StoredRow


class EventStore(Protocol):
    codec: EventCodec

    async def append(self, events: Sequence[NewEvent]) -> list[int]: ...

    def read(
        self,
        *,
        after: int = 0,
        types: Collection[str] | None = None,
        track: str | None = None,
    ) -> AsyncIterator[Recorded]: ...

    def read_rows(
        self,
        *,
        after: int = 0,
        types: Collection[str] | None = None,
        track: str | None = None,
    ) -> AsyncIterator[StoredRow]: ...

    def iter_rows(self, *, after: int = 0) -> Iterator[StoredRow]:
        """Blocking, for bulk replay and verification in a worker thread."""
        ...

    def iter_recorded(self, *, after: int = 0) -> Iterator[Recorded]:
        """Blocking, for bulk replay in a worker thread; every row verified against the chain."""
        ...

    def hash_at(self, seq: int) -> str | None:
        """Blocking: the chain hash of the row at `seq` (the genesis at 0; None: no such row)."""
        ...

    async def last_seq(self) -> int: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ChangeFeed(Protocol):
    """What a store that can tell its followers about new events offers (PostgreSQL's
    LISTEN/NOTIFY); a store without it is polled."""

    def changes(self) -> AsyncIterator[int]:
        """Yields once listening has begun, then after commits by anyone (several may arrive as
        one); ends with a StoreError when it can no longer listen."""
        ...


class RowFilter(msgspec.Struct, frozen=True):
    """Which rows a read wants: after a sequence number, of some types, about one track."""

    after: int = 0
    types: frozenset[str] | None = None
    track: str | None = None

    @classmethod
    def of(cls, after: int, types: Collection[str] | None, track: str | None) -> RowFilter:
        return cls(max(after, 0), None if types is None else frozenset(types), track)

    def matches(self, row: StoredRow) -> bool:
        if row.seq <= self.after:
            return False
        if self.types is not None and row.type not in self.types:
            return False
        return self.track is None or row.track == self.track


#: Fetch up to `limit` rows matching a filter, in sequence order.
PageFetcher = Callable[[RowFilter, int], Awaitable[list[StoredRow]]]


async def paged_rows(fetch: PageFetcher, wanted: RowFilter, limit: int) -> AsyncIterator[StoredRow]:
    """Stream a read page by page: no store loads the whole log or keeps a cursor open between
    pages, so readers interleave with writers and with each other."""
    while True:
        page = await fetch(wanted, limit)
        for row in page:
            yield row
        if len(page) < limit:
            return
        wanted = msgspec.structs.replace(wanted, after=page[-1].seq)


class LogReads:
    """The read side every store shares, on top of its `_fetch_page` and `iter_rows`."""

    codec: EventCodec
    page_size: int = 2000

    async def _fetch_page(self, wanted: RowFilter, limit: int) -> list[StoredRow]:
        raise NotImplementedError

    def iter_rows(self, *, after: int = 0) -> Iterator[StoredRow]:
        raise NotImplementedError

    async def read_rows(
        self,
        *,
        after: int = 0,
        types: Collection[str] | None = None,
        track: str | None = None,
    ) -> AsyncIterator[StoredRow]:
        wanted = RowFilter.of(after, types, track)
        async for row in paged_rows(self._fetch_page, wanted, self.page_size):
            yield row

    async def read(
        self,
        *,
        after: int = 0,
        types: Collection[str] | None = None,
        track: str | None = None,
    ) -> AsyncIterator[Recorded]:
        async for row in self.read_rows(after=after, types=types, track=track):
            yield to_recorded(self.codec, row)

    def hash_at(self, seq: int) -> str | None:
        raise NotImplementedError

    def iter_recorded(self, *, after: int = 0) -> Iterator[Recorded]:
        codec = self.codec
        for row in verified_rows(self, after):
            yield to_recorded(codec, row)


#: Why a row whose track column is not its event's track fails (format 1 leaves it unhashed).
TRACK_MISMATCH = "the track column does not match its event"


def verified_rows(store: EventStore | LogReads, after: int) -> Iterator[StoredRow]:
    """The rows after `after`, each verified against the chain (and, for rows of chain format 1,
    whose hash leaves the track out, the track column against the event); ChainBrokenError at
    the first that fails."""
    prev = store.hash_at(after)
    if prev is None:
        raise ChainBrokenError(after, "no such row (the log was cut short?)")
    walk = ChainWalk(prev_hash=prev, next_seq=after + 1)
    try:
        for row in walk.verified(store.iter_rows(after=after)):
            if row.chain == 1 and track_of(to_recorded(store.codec, row).event) != row.track:
                walk.fail(row.seq, TRACK_MISMATCH)
                break
            yield row
    except MalformedRowError as e:
        walk.fail(e.seq, e.reason)
    if walk.broken is not None:
        raise ChainBrokenError(walk.broken.seq, walk.broken.reason)


def to_recorded(codec: EventCodec, row: StoredRow) -> Recorded:
    return Recorded(
        seq=row.seq,
        event_id=row.event_id,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        event=codec.decode(row.type, row.version, row.payload),
    )


async def verified_events(
    store: EventStore, *, after: int
) -> AsyncIterator[tuple[StoredRow, Recorded]]:
    """`read_rows` from `after`, each row verified against the chain (as `verified_rows`) and
    decoded; ChainBrokenError at the first that fails. For readers that fold as they go."""
    prev = await anyio.to_thread.run_sync(store.hash_at, after)
    if prev is None:
        raise ChainBrokenError(after, "no such row (the log was cut short?)")
    walk = ChainWalk(prev_hash=prev, next_seq=after + 1)
    try:
        async for row in store.read_rows(after=after):
            if not walk.accept(row):
                break
            recorded = to_recorded(store.codec, row)
            if row.chain == 1 and track_of(recorded.event) != row.track:
                walk.fail(row.seq, TRACK_MISMATCH)
                break
            yield row, recorded
    except MalformedRowError as e:
        walk.fail(e.seq, e.reason)
    if walk.broken is not None:
        raise ChainBrokenError(walk.broken.seq, walk.broken.reason)
