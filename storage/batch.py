"""The write side every store shares: validate and encode a batch (`prepare`, done by the caller
before the write lock), then give it sequence numbers and chain hashes (`assign`, under it)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Final, cast

import msgspec

from domain.codec import EventCodec
from domain.events import NewEvent, track_of
from storage.chain import CHAIN_FORMAT, event_part, link
from storage.errors import InvalidEventError
from storage.type_codes import TYPE_CODES

#: SQLite (and PostgreSQL's BIGINT) keep signed 64-bit integers.
MAX_MS: Final[int] = 2**63 - 1

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Prepared(msgspec.Struct, frozen=True):
    """An event encoded and validated, waiting for its sequence number; `part` is its share of
    the chain's canonical bytes (`storage.chain.event_part`), `id16` its id's 16 bytes."""

    event_id: str
    id16: bytes
    type: str
    version: int
    occurred_at: int
    track: str | None
    payload: bytes
    part: bytes


Row = tuple[int, bytes, int, int, int, int, bytes, bytes, str | None, int]


class Assigned(msgspec.Struct, frozen=True):
    """The new rows of a commit as the events table stores them (every store's
    `STORED_COLUMNS`: the type as its code, recorded-at as its lag behind occurred-at), the
    sequence numbers answered to each batch, the chain's head after it, and the recorded-at
    their hashes were computed with."""

    new: list[Row]
    results: list[list[int]]
    head_seq: int
    head: bytes
    recorded_at: int

    def rows(self, recorded_at: int) -> list[tuple[object, ...]]:
        """The new rows' column values; `recorded_at` must be the one they were hashed with."""
        if recorded_at != self.recorded_at:
            raise ValueError(f"rows hashed at {self.recorded_at}, asked for at {recorded_at}")
        return cast(list[tuple[object, ...]], self.new)


def _row(seq: int, p: Prepared, recorded_at: int, digest: bytes) -> Row:
    return (
        seq,
        p.id16,
        TYPE_CODES[p.type],
        p.version,
        p.occurred_at,
        recorded_at - p.occurred_at,
        p.payload,
        digest,
        p.track,
        CHAIN_FORMAT,
    )


def _distinct(batches: Sequence[Sequence[Prepared]]) -> bool:
    total = sum(len(batch) for batch in batches)
    return len({p.id16 for batch in batches for p in batch}) == total


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
        at = new.occurred_at
        if type(at) is not int or not 0 <= at <= MAX_MS:
            raise InvalidEventError(index, "occurred_at must be an integer of ms in [0, 2^63)")
        try:
            event_type, version, payload = codec.encode(new.event)
        except (KeyError, TypeError, msgspec.EncodeError) as e:
            raise InvalidEventError(index, f"cannot encode {type(new.event).__name__}: {e}") from e
        track = track_of(new.event)
        id_hex = event_id.replace("-", "")
        part = event_part(id_hex, event_type, version, at, track, payload)
        id16 = bytes.fromhex(id_hex)
        prepared.append(Prepared(event_id, id16, event_type, version, at, track, payload, part))
    return prepared


def assign(
    batches: Sequence[Sequence[Prepared]],
    *,
    last_seq: int,
    last_hash: bytes,
    existing: dict[str, int],
    recorded_at: int,
) -> Assigned:
    """Give new events their sequence numbers and chain hashes; duplicates get the stored seq.

    `existing` maps already-stored event ids (of this batch) to their sequence numbers.
    """
    new: list[Row] = []
    results: list[list[int]] = []
    seq, prev = last_seq, last_hash
    if not existing and _distinct(batches):  # the usual case: every event is new
        for batch in batches:
            first = seq + 1
            for p in batch:
                seq += 1
                prev = link(prev, seq, recorded_at, p.part)
                new.append(_row(seq, p, recorded_at, prev))
            results.append(list(range(first, seq + 1)))
        return Assigned(new, results, seq, prev, recorded_at)
    seen = dict(existing)
    for batch in batches:
        seqs = []
        for p in batch:
            stored = seen.get(p.event_id)
            if stored is not None:
                seqs.append(stored)
                continue
            seq += 1
            prev = link(prev, seq, recorded_at, p.part)
            new.append(_row(seq, p, recorded_at, prev))
            seen[p.event_id] = seq
            seqs.append(seq)
        results.append(seqs)
    return Assigned(new, results, seq, prev, recorded_at)
