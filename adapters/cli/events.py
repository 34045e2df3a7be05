"""What each CLI command does. Functions take parsed arguments and write to the given stream."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import msgspec

from adapters.bootstrap import open_log, snapshot_if_due
from adapters.clock import SystemClock
from adapters.ingest import read_session
from domain.events import NewEvent
from domain.state import State, encode_state, state_hash
from storage.projector import load_state, replay, verify

_json = msgspec.json.Encoder()


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


async def ingest(args: argparse.Namespace, out: TextIO) -> int:
    events = read_session(Path(args.file))
    return await _append_session(args, events, out)


async def _append_session(args: argparse.Namespace, events: list[NewEvent], out: TextIO) -> int:
    clock = SystemClock()
    async with open_log(args.db, clock=clock, create=True, migrate=True) as log:
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
    async with open_log(args.db, clock=SystemClock(), create=False, migrate=False) as log:
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


async def run_verify(args: argparse.Namespace, out: TextIO) -> int:
    async with open_log(args.db, clock=SystemClock(), create=False, migrate=False) as log:
        report = await verify(log.events, log.snapshots)
    for stale in report.stale_snapshots:
        out.write(f"note: snapshot {stale.id} at {stale.seq} {stale.reason}\n")
    if report.chain_break is not None:
        out.write(f"FAILED at sequence {report.chain_break.seq}: {report.chain_break.reason}\n")
    for bad in report.snapshot_mismatches:
        out.write(f"FAILED: snapshot {bad.id} at sequence {bad.seq} {bad.reason}\n")
    if report.ok:
        out.write(f"ok: {report.events} events, hash chain intact, snapshots match a replay\n")
        out.write(f"state-hash: {report.state_hash}\n")
        return 0
    return 1


async def run_replay(args: argparse.Namespace, out: TextIO) -> int:
    async with open_log(args.db, clock=SystemClock(), create=False, migrate=False) as log:
        started = time.perf_counter()
        state = await replay(log.events)
        elapsed = time.perf_counter() - started
    rate = state.seq / elapsed if elapsed > 0 else float("inf")
    out.write(f"replayed {state.seq} events in {elapsed:.3f} s ({rate:,.0f} events/s)\n")
    out.write(f"state-hash: {state_hash(state)}\n")
    return 0


async def migrate(args: argparse.Namespace, out: TextIO) -> int:
    async with open_log(args.db, clock=SystemClock(), create=True, migrate=True) as log:
        count = await log.events.last_seq()
    out.write(f"{args.db}: schema up to date ({count} events)\n")
    return 0
