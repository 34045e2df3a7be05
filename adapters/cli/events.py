"""Commands on the event log itself: `ingest`, `state`, `replay`, `migrate`."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from adapters.cli.options import non_negative
from adapters.cli.settings import DEFAULT_SNAPSHOT_EVERY

if TYPE_CHECKING:
    from domain.events import NewEvent
    from domain.state import State


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("ingest", help="append the events of a JSON-lines session file")
    p.add_argument("file", help="one event per line (schema in the README); all or nothing")
    p.add_argument(
        "--snapshot-every",
        type=non_negative,
        default=DEFAULT_SNAPSHOT_EVERY,
        help="write a snapshot when this many events were added since the last one "
        f"(default {DEFAULT_SNAPSHOT_EVERY}; 0 never)",
    )
    p.set_defaults(run=ingest)

    p = subparsers.add_parser("state", help="the projected state and its state-hash")
    p.add_argument("--json", action="store_true", help="the canonical state as JSON")
    p.set_defaults(run=show_state)

    p = subparsers.add_parser(
        "replay", help="rebuild the state from the log alone, ignoring snapshots"
    )
    p.set_defaults(run=run_replay)

    p = subparsers.add_parser(
        "migrate", help="create the database or upgrade its schema, nothing else"
    )
    p.set_defaults(run=migrate)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


async def ingest(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.ingest import read_session

    events = read_session(Path(args.file))
    return await _append_session(args, events, out)


async def _append_session(args: argparse.Namespace, events: list[NewEvent], out: TextIO) -> int:
    from adapters.bootstrap import open_log, sources
    from storage.log import snapshot_if_due
    from storage.projector import load_state

    clock = sources().clock
    async with open_log(args.db, create=True, migrate=True, clock=clock) as log:
        before = await log.events.last_seq()
        seqs = await log.events.append(events)
        fresh = [s for s in seqs if s > before]
        loaded = await load_state(log.events, log.snapshots)
        snapped = await snapshot_if_due(log, loaded.state, every=args.snapshot_every, clock=clock)
    span = f", sequence {min(fresh)}..{max(fresh)}" if fresh else ""
    out.write(
        f"appended {len(fresh)} events ({len(seqs) - len(fresh)} already in the log){span}"
        f" to {args.db}\n"
    )
    if snapped:
        out.write(f"snapshot written at sequence {loaded.state.seq}\n")
    return 0


def _describe(state: State) -> str:
    playback = state.playback
    position = playback.position_at(state.clock_ms, state.duration_of(playback.track))
    lines = [
        f"sequence:   {state.seq}",
        f"event time: {iso(state.clock_ms) if state.clock_ms else '-'}",
        f"library:    {len(state.tracks)} tracks",
        f"playback:   {playback.status} {playback.track or '-'} at {position / 1000:.1f} s",
        f"preset:     {playback.preset} at intensity {playback.intensity_tenths / 10:.1f}",
        f"ignored:    {state.ignored} events that did not apply",
    ]
    return "\n".join(lines)


async def show_state(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.bootstrap import open_log
    from domain.state import encode_state, state_hash
    from storage.projector import load_state

    async with open_log(args.db, create=False, migrate=False, read_only=True) as log:
        loaded = await load_state(log.events, log.snapshots)
    for skipped in loaded.skipped:
        out.write(f"warning: snapshot {skipped.id} at {skipped.seq} skipped: {skipped.reason}\n")
    if args.json:
        body = encode_state(loaded.state).decode()
        out.write(f'{{"state_hash":"{state_hash(loaded.state)}","state":{body}}}\n')
        return 0
    out.write(_describe(loaded.state) + "\n")
    out.write(f"state-hash: {state_hash(loaded.state)}\n")
    return 0


async def run_replay(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.bootstrap import open_log
    from domain.state import state_hash
    from storage.projector import replay

    async with open_log(args.db, create=False, migrate=False, read_only=True) as log:
        started = time.perf_counter()
        state = await replay(log.events)
        elapsed = time.perf_counter() - started
    rate = state.seq / elapsed if elapsed > 0 else float("inf")
    out.write(f"replayed {state.seq} events in {elapsed:.3f} s ({rate:,.0f} events/s)\n")
    out.write(f"state-hash: {state_hash(state)}\n")
    return 0


async def migrate(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.bootstrap import open_log

    async with open_log(args.db, create=True, migrate=True) as log:
        count = await log.events.last_seq()
    out.write(f"{args.db}: schema up to date ({count} events)\n")
    return 0
