"""Audit tools over the log: time filters, policy marks folded from the state before each event,
and exports that can be verified without the database.

An export is JSON lines: a header line, then one line per event with every column the hash chain
covers (`seq`, `event_id`, `type`, `version`, `occurred_at`, `recorded_at`, `payload` as the exact
stored JSON text, and `hash`), so anyone can recompute
``hash = sha256(prev_hash ‖ "seq␟event_id␟type␟version␟occurred_at␟recorded_at␟" ‖ payload)``
(␟ is the unit separator 0x1f; the first prev_hash is 64 zeros).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Final, cast

import msgspec

from adapters.errors import AdapterError
from adapters.ingest import parse_time
from domain.events import Recorded
from domain.policy import audit_mark
from domain.projection import evolve
from domain.state import State
from storage.chain import GENESIS, ChainBreak, first_break
from storage.eventstore import to_recorded
from storage.log import Log
from storage.projector import check_snapshot
from storage.row import COLUMNS, LogRow, StoredRow, with_payload

EXPORT_FORMAT: Final[str] = "tierbuffer-export/1"


def closable(rows: AsyncIterator[StoredRow]) -> AsyncGenerator[StoredRow, None]:
    """The store's readers are async generators: typed so, they can be closed early."""
    return cast("AsyncGenerator[StoredRow, None]", rows)


def parse_moment(text: str) -> int:
    """Milliseconds since the epoch from `1764000000000` or an ISO-8601 time with a timezone."""
    value = text.strip()
    return parse_time(int(value) if value.isdigit() else value)


class ExportHeader(msgspec.Struct, frozen=True):
    format: str
    genesis: str
    events: int


class ExportError(AdapterError):
    """An export file that cannot be read as one (not its format, or a line that is not a row)."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


_encoder = msgspec.json.Encoder()
_row_decoder = msgspec.json.Decoder(LogRow[str])
#: The fields of an export line (the track is kept beside the payload, not hashed in format 1).
_LINE_FIELDS = tuple(name for name in COLUMNS if name != "track")
_header_decoder = msgspec.json.Decoder(ExportHeader)


def export_line(row: StoredRow) -> bytes:
    line = {name: getattr(row, name) for name in _LINE_FIELDS}
    line["payload"] = row.payload.decode()
    return _encoder.encode(line)


def export_header(events: int) -> bytes:
    return _encoder.encode(ExportHeader(EXPORT_FORMAT, GENESIS, events))


def read_export(path: Path) -> Iterator[StoredRow]:
    """The rows of an export file, in file order; ExportError for a line that is not one."""
    with path.open("rb") as lines:
        first = lines.readline()
        try:
            header = _header_decoder.decode(first)
        except msgspec.DecodeError as e:
            raise ExportError(path, 1, f"not a tierbuffer export header: {e}") from e
        if header.format != EXPORT_FORMAT:
            raise ExportError(path, 1, f"format {header.format!r}, expected {EXPORT_FORMAT!r}")
        for number, line in enumerate(lines, start=2):
            if not line.strip():
                continue
            try:
                exported = _row_decoder.decode(line)
                yield with_payload(exported, exported.payload.encode())
            except msgspec.DecodeError as e:
                raise ExportError(path, number, str(e).replace("$.", "")) from e


def verify_export(path: Path) -> tuple[int, ChainBreak | None]:
    """How many rows were read, and the first place the chain breaks (None: intact)."""
    count = 0

    def counted() -> Iterator[StoredRow]:
        nonlocal count
        for row in read_export(path):
            count += 1
            yield row

    broken = first_break(counted())
    return count, broken


async def state_before(log: Log, seq: int) -> State:
    """The state just before event `seq + 1`: the newest valid snapshot at or before `seq`,
    folded forward to `seq`."""
    base = State()
    last = await log.events.last_seq()
    async for snapshot in log.snapshots.newest_first():
        if snapshot.seq > seq:
            continue
        checked = check_snapshot(snapshot, last)
        if isinstance(checked, State):
            base = checked
            break
    if base.seq >= seq:
        return base
    async with aclosing(closable(log.events.read_rows(after=base.seq))) as rows:
        async for row in rows:
            if row.seq > seq:
                break
            base = evolve(base, to_recorded(log.events.codec, row))
            if base.seq >= seq:
                break
    return base


async def marked_rows(
    log: Log, *, after: int, state: State | None = None
) -> AsyncIterator[tuple[StoredRow, Recorded, str, State]]:
    """Every row after `after` with its decoded event, its audit mark (from the state before it)
    and the state after it."""
    current = state if state is not None else await state_before(log, after)
    async for row in log.events.read_rows(after=after):
        recorded = to_recorded(log.events.codec, row)
        mark = audit_mark(current, recorded)
        current = evolve(current, recorded)
        yield row, recorded, mark, current
