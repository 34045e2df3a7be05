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
from storage.chain import CHAIN_FORMAT, EVENT_PART, link, track_json
from storage.errors import InvalidEventError
from storage.type_codes import TYPE_CODES

#: SQLite (and PostgreSQL's BIGINT) keep signed 64-bit integers.
MAX_MS: Final[int] = 2**63 - 1

_UUID: Final[str] = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_CANONICAL_UUID = re.compile(_UUID)
#: Canonical ids, one per line (a batch's ids joined by line breaks), and the length of a line.
_CANONICAL_LINES = re.compile(rf"(?:{_UUID}\n)*{_UUID}")
_LINE: Final[int] = 37


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


def _canonical_id(index: int, value: object) -> str:
    try:
        return canonical_event_id(value)
    except (ValueError, TypeError, AttributeError) as e:
        raise InvalidEventError(index, f"event id {value!r} is not a UUID") from e


def _canonical_ids(events: Sequence[NewEvent]) -> list[str]:
    """Every event's id in canonical form, checked with one match over the whole batch when
    they all are already (the usual case); InvalidEventError names the first that is no UUID."""
    ids = [new.event_id for new in events]
    try:
        joined = "\n".join(ids)
    except TypeError:  # an id that is not text: found below
        joined = ""
    # One id per line, each line exactly one canonical UUID: the length rules out an id that
    # itself holds a line break.
    if len(joined) == _LINE * len(ids) - 1 and _CANONICAL_LINES.fullmatch(joined):
        return ids
    return [_canonical_id(index, value) for index, value in enumerate(ids)]


def prepare(codec: EventCodec, events: Sequence[NewEvent]) -> list[Prepared]:
    """Validate and encode a batch before it reaches the writer; raises InvalidEventError.

    The ids of a batch are checked and turned into hex and bytes all at once; what is left per
    event is its time's check, its encoding and one formatting of its chain part."""
    if len(events) == 1:  # a single append: nothing to share the batch-wide work with
        new = events[0]
        event_id = _canonical_id(0, new.event_id)
        id_hex = event_id.replace("-", "")
        return [_prepared(0, new, event_id, id_hex.encode(), bytes.fromhex(id_hex), codec)]
    if not events:
        return []
    ids = _canonical_ids(events)
    hexes = "\n".join(ids).replace("-", "")
    raw = bytes.fromhex(hexes)  # fromhex skips the line breaks
    id16s = [raw[i : i + 16] for i in range(0, len(raw), 16)]
    return [
        _prepared(index, new, event_id, id_hex, id16, codec)
        for index, (new, event_id, id_hex, id16) in enumerate(
            zip(events, ids, hexes.encode().split(b"\n"), id16s, strict=True)
        )
    ]


def _prepared(
    index: int, new: NewEvent, event_id: str, id_hex: bytes, id16: bytes, codec: EventCodec
) -> Prepared:
    at = new.occurred_at
    if type(at) is not int or not 0 <= at <= MAX_MS:
        raise InvalidEventError(index, "occurred_at must be an integer of ms in [0, 2^63)")
    event = new.event
    try:
        event_type, version, payload = codec.encode(event)
    except (KeyError, TypeError, msgspec.EncodeError) as e:
        raise InvalidEventError(index, f"cannot encode {type(event).__name__}: {e}") from e
    track = track_of(event)
    part = EVENT_PART % (id_hex, event_type.encode(), version, at, track_json(track), payload)
    return Prepared(event_id, id16, event_type, version, at, track, payload, part)


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
