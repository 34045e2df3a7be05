"""The event store port, and the batch logic every implementation shares.

Contract (tests/storage/test_contract.py runs it against every implementation):
- `append(events)` stores a batch atomically and returns its sequence numbers after commit;
- an event id already stored is a no-op returning the stored sequence number;
- sequence numbers are contiguous from 1 and every row chains to its predecessor's hash;
- concurrent appenders never interleave a batch;
- `read` yields events in sequence order, filtered by type and track, without loading the log.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from typing import Protocol

import msgspec

from domain.codec import EventCodec
from domain.events import NewEvent, Recorded, track_of
from storage.chain import canonical_bytes, chain_hash
from storage.errors import InvalidEventError
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
        """Blocking, for bulk replay in a worker thread."""
        ...

    async def last_seq(self) -> int: ...

    async def aclose(self) -> None: ...


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

    def iter_recorded(self, *, after: int = 0) -> Iterator[Recorded]:
        codec = self.codec
        for row in self.iter_rows(after=after):
            yield to_recorded(codec, row)


class Prepared(msgspec.Struct, frozen=True):
    """An event encoded and validated, waiting for its sequence number."""

    event_id: str
    type: str
    version: int
    occurred_at: int
    track: str | None
    payload: bytes


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_event_id(value: object) -> str:
    """The lower-case, hyphenated form of a UUID (fast path for ids already in that form)."""
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value
    return str(uuid.UUID(str(value)))


def prepare(codec: EventCodec, events: Sequence[NewEvent]) -> list[Prepared]:
    """Validate and encode a batch before it reaches the writer; raises InvalidEventError."""
    prepared = []
    for index, new in enumerate(events):
        try:
            event_id = canonical_event_id(new.event_id)
        except (ValueError, TypeError, AttributeError) as e:
            raise InvalidEventError(index, f"event id {new.event_id!r} is not a UUID") from e
        if not isinstance(new.occurred_at, int) or new.occurred_at < 0:
            raise InvalidEventError(index, "occurred_at must be a non-negative integer of ms")
        try:
            event_type, version, payload = codec.encode(new.event)
        except (KeyError, TypeError, msgspec.EncodeError) as e:
            raise InvalidEventError(index, f"cannot encode {type(new.event).__name__}: {e}") from e
        prepared.append(
            Prepared(event_id, event_type, version, new.occurred_at, track_of(new.event), payload)
        )
    return prepared


def assign(
    batches: Sequence[Sequence[Prepared]],
    *,
    last_seq: int,
    last_hash: str,
    existing: dict[str, int],
    recorded_at: int,
) -> tuple[list[StoredRow], list[list[int]]]:
    """Give new events their sequence numbers and chain hashes; duplicates get the stored seq.

    `existing` maps already-stored event ids (of this batch) to their sequence numbers. Returns the
    rows to insert and, per batch, the sequence number of each of its events.
    """
    seen = dict(existing)
    rows: list[StoredRow] = []
    results: list[list[int]] = []
    seq, prev_hash = last_seq, last_hash
    for batch in batches:
        seqs = []
        for p in batch:
            stored = seen.get(p.event_id)
            if stored is not None:
                seqs.append(stored)
                continue
            seq += 1
            canonical = canonical_bytes(
                seq, p.event_id, p.type, p.version, p.occurred_at, recorded_at, p.payload
            )
            prev_hash = chain_hash(prev_hash, canonical)
            rows.append(
                StoredRow(
                    seq,
                    p.event_id,
                    p.type,
                    p.version,
                    p.occurred_at,
                    recorded_at,
                    p.payload,
                    prev_hash,
                    p.track,
                )
            )
            seen[p.event_id] = seq
            seqs.append(seq)
        results.append(seqs)
    return rows, results


def to_recorded(codec: EventCodec, row: StoredRow) -> Recorded:
    return Recorded(
        seq=row.seq,
        event_id=row.event_id,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        event=codec.decode(row.type, row.version, row.payload),
    )
