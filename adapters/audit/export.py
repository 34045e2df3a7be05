"""Audit tools over the log: time filters, policy marks folded from the state before each event,
and exports that can be verified without the database.

An export (format `tierbuffer-export/2`) is JSON lines: a header line (`format`, `genesis`,
`events`, `head` as `seq:hash`), then one line per event with every column of the row
(`storage.row.LogRow`): `seq`, `event_id`, `type`, `version`, `occurred_at`, `recorded_at`,
`payload` (the exact stored JSON text, as a string), `hash`, `track` and `chain`, the format of
its hash (`storage.chain`; 1 for rows written before schema revision 0002, 2 since), so anyone
can recompute the chain. The export checks the chain as it writes: a log that does not verify
is not exported. Files of format 1 (no `track`, every row of chain format 1) still verify.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Final, TypeVar, cast

import anyio
import msgspec

from adapters.errors import AdapterError
from adapters.ingest import parse_time
from domain.events import Recorded
from domain.policy import audit_mark
from domain.projection import evolve
from domain.state import State
from storage.anchor import Anchor
from storage.chain import CHAIN_FORMAT, GENESIS, ChainBreak, ChainWalk
from storage.errors import ChainBrokenError
from storage.eventstore import EventStore, verified_events, verified_rows
from storage.log import Log
from storage.projector import check_snapshot
from storage.row import LogRow, StoredRow, with_payload

T = TypeVar("T")

EXPORT_FORMAT: Final[str] = "tierbuffer-export/2"
#: Export formats this version reads, with the chain format of their rows when they say none.
READABLE: Final[dict[str, int]] = {"tierbuffer-export/1": 1, EXPORT_FORMAT: CHAIN_FORMAT}


def closable(rows: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """The store's readers are async generators: typed so, they can be closed early."""
    return cast("AsyncGenerator[T, None]", rows)


def parse_moment(text: str) -> int:
    """Milliseconds since the epoch from `1764000000000` or an ISO-8601 time with a timezone."""
    value = text.strip()
    return parse_time(int(value) if value.isascii() and value.isdigit() else value)


class ExportHeader(msgspec.Struct, frozen=True):
    format: str
    genesis: str
    events: int
    head: str | None = None


class ExportCheck(msgspec.Struct, frozen=True):
    """What reading an export back found: rows, the first break, the hash at a wanted seq."""

    events: int
    broken: ChainBreak | None
    hash_at: dict[int, str]


class ExportError(AdapterError):
    """An export file that cannot be read as one (not its format, or a line that is not a row)."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


_encoder = msgspec.json.Encoder()
_row_decoder = msgspec.json.Decoder(LogRow[str])
_header_decoder = msgspec.json.Decoder(ExportHeader)


def export_line(row: StoredRow) -> bytes:
    return _encoder.encode(with_payload(row, row.payload.decode()))


def export_header(events: int, head: Anchor) -> bytes:
    return _encoder.encode(ExportHeader(EXPORT_FORMAT, GENESIS, events, head.line().strip()))


def write_export(events: EventStore, target: Path, last: int, head: Anchor) -> ChainBreak | None:
    """Write rows 1..`last`, checking the chain as it goes (blocking). On a break nothing is
    left behind and the break is returned."""
    temp = target.with_name(f".{target.name}.part")
    try:
        with temp.open("wb") as file:
            file.write(export_header(last, head) + b"\n")
            for row in verified_rows(events, 0):
                if row.seq > last:
                    break
                file.write(export_line(row) + b"\n")
            file.flush()
            os.fsync(file.fileno())
        temp.replace(target)
    except ChainBrokenError as e:
        temp.unlink(missing_ok=True)
        return ChainBreak(e.seq, e.reason)
    except UnicodeDecodeError as e:  # a payload that hashes right and is not text: not ours
        temp.unlink(missing_ok=True)
        return ChainBreak(row.seq, f"payload is not UTF-8 text ({e.reason})")
    except OSError as e:
        temp.unlink(missing_ok=True)
        raise ExportError(target, 0, f"cannot write: {e.strerror or e}") from e
    return None


def read_export(path: Path) -> Iterator[StoredRow]:
    """The rows of an export file, in file order; ExportError for a line that is not one."""
    with path.open("rb") as lines:
        first = lines.readline()
        try:
            header = _header_decoder.decode(first)
        except msgspec.DecodeError as e:
            raise ExportError(path, 1, f"not a tierbuffer export header: {e}") from e
        chain = READABLE.get(header.format)
        if chain is None:
            raise ExportError(path, 1, f"format {header.format!r}, expected {EXPORT_FORMAT!r}")
        for number, line in enumerate(lines, start=2):
            if not line.strip():
                continue
            try:
                exported = _row_decoder.decode(line)
            except msgspec.DecodeError as e:
                raise ExportError(path, number, str(e).replace("$.", "")) from e
            stored = with_payload(exported, exported.payload.encode())
            yield stored if chain == CHAIN_FORMAT else msgspec.structs.replace(stored, chain=1)


def verify_export(path: Path, *, want: int | None = None) -> ExportCheck:
    """Read an export back through the chain; the hash at `want` is kept when present."""
    walk = ChainWalk()
    hashes: dict[int, str] = {}
    for row in walk.verified(read_export(path)):
        if row.seq == want:
            hashes[row.seq] = row.hash
    return ExportCheck(walk.next_seq - 1, walk.broken, hashes)


async def state_before(log: Log, seq: int) -> State:
    """The state just before event `seq + 1`: the newest valid snapshot at or before `seq`,
    folded forward to `seq`."""
    base = State()
    last = await log.events.last_seq()
    async for snapshot in log.snapshots.newest_first():
        if snapshot.seq > seq:
            continue
        bound = await anyio.to_thread.run_sync(log.events.hash_at, snapshot.seq)
        checked = check_snapshot(snapshot, last, bound)
        if isinstance(checked, State):
            base = checked
            break
    if base.seq >= seq:
        return base
    events = closable(verified_events(log.events, after=base.seq))
    async with aclosing(events) as verified:
        async for row, recorded in verified:
            if row.seq > seq:
                break
            base = evolve(base, recorded)
            if base.seq >= seq:
                break
    return base


async def marked_rows(
    log: Log, *, after: int, state: State | None = None
) -> AsyncIterator[tuple[StoredRow, Recorded, str, State]]:
    """Every row after `after` with its decoded event, its audit mark (from the state before it)
    and the state after it; each verified against the chain before it is folded."""
    current = state if state is not None else await state_before(log, after)
    async for row, recorded in verified_events(log.events, after=after):
        mark = audit_mark(current, recorded)
        current = evolve(current, recorded)
        yield row, recorded, mark, current
