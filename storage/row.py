"""The log row: the one definition of what a stored event is, with its raw payload.

`LogRow[P]` is generic in its payload so the views that must differ are derived from it rather
than spelled again: the store reads `StoredRow` (`LogRow[bytes]`, the payload exactly as stored);
an export line is a `LogRow[str]` (the payload as JSON text); the HTTP API's entry decodes it
(`LogRow[dict]`). The SQL column list is `COLUMNS`, the field names in order.
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
