"""The log row: the one definition of what a stored event is, with its raw payload.

`LogRow[P]` is generic in its payload so the views that must differ are derived from it rather
than spelled again: the store reads `StoredRow` (`LogRow[bytes]`, the payload exactly as stored);
an export line is a `LogRow[str]` (the payload as JSON text); the HTTP API's entry decodes it
(`LogRow[dict]`). `COLUMNS` are the field names in order.

The events table keeps two of them in another form (schema revision 0004): the type as its code
(`type_code`, `storage.type_codes`) and recorded-at as its distance from occurred-at
(`recorded_lag`, in ms: SQLite stores a small integer in one byte, and 0 or 1 in none, where a
timestamp takes six). `STORED_COLUMNS` are the table's columns, in the same order; the chain
hashes the logical values, so how a row is stored is not under its hash.
"""

from __future__ import annotations

from typing import Any, Final, Generic, TypeVar

import msgspec

P = TypeVar("P")
Q = TypeVar("Q")


class LogRow(msgspec.Struct, Generic[P], frozen=True, forbid_unknown_fields=True):
    """One event as the log holds it: what the hash chain covers, plus the chain hash."""

    seq: int
    event_id: str
    type: str
    version: int
    occurred_at: int
    recorded_at: int
    payload: P
    hash: str
    #: The track the event is about (None: none), kept beside the payload for `read(track=…)`.
    track: str | None = None
    #: How `hash` was computed (`storage.chain`): 1 for rows written before schema revision
    #: 0002 (the track outside the hash), 2 since.
    chain: int = 2


StoredRow = LogRow[bytes]

#: The columns of a row, in order (also the order of `LogRow`'s fields).
COLUMNS: Final[tuple[str, ...]] = LogRow.__struct_fields__

#: The events table's columns, in `COLUMNS` order (`type` stored as `type_code`, `recorded_at`
#: as `recorded_lag` = recorded_at - occurred_at).
STORED_COLUMNS: Final[tuple[str, ...]] = tuple(
    {"type": "type_code", "recorded_at": "recorded_lag"}.get(name, name) for name in COLUMNS
)


def with_payload(row: LogRow[Any], payload: Q) -> LogRow[Q]:
    """The same row with its payload in another form (decoded, as text, raw JSON)."""
    return LogRow(
        row.seq,
        row.event_id,
        row.type,
        row.version,
        row.occurred_at,
        row.recorded_at,
        payload,
        row.hash,
        row.track,
        row.chain,
    )
