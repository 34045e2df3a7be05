"""Replay speed and cold-start time of the projection from a file database.

Usage: python bench/replay.py [--events N] [--keep PATH]

Builds a log of N events (default 1 000 000: a library of 50 tracks, then a listening mix of
position reports, seeks, preset and track changes), then prints:
  - the raw read floor: rows/s read with sqlite3 and their payloads decoded with json.loads;
  - replay: events/s folded from the log alone (what `tierbuffer replay` does);
  - cold start without a snapshot: open the database (schema check included) + full replay;
  - cold start with a snapshot at the end of the log: open + load snapshot + (empty) tail.
Both starts must reach the same state hash as the replay, or the run fails before printing.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.bootstrap import open_log, sources  # noqa: E402
from bench._common import new_event  # noqa: E402
from domain.state import state_hash  # noqa: E402
from storage.projector import load_state, replay  # noqa: E402

BATCH = 10_000


async def build(path: Path, n: int) -> None:
    async with open_log(path, create=True, migrate=True) as log:
        started = time.perf_counter()
        for start in range(0, n, BATCH):
            await log.events.append([new_event(i) for i in range(start, min(n, start + BATCH))])
            if sys.stdout.isatty():
                print(f"\rbuilding log: {min(n, start + BATCH):,}/{n:,}", end="", flush=True)
        count = await log.events.last_seq()
    if sys.stdout.isatty():
        print()
    if count != n:
        raise SystemExit(f"FAILED: built {count} events, wanted {n}")
    print(f"built a log of {n:,} events in {time.perf_counter() - started:.1f} s")


def read_floor(path: Path) -> float:
    connection = sqlite3.connect(str(path))
    started = time.perf_counter()
    count = 0
    for (payload,) in connection.execute("SELECT payload FROM events ORDER BY seq"):
        json.loads(payload)
        count += 1
    elapsed = time.perf_counter() - started
    connection.close()
    print(f"raw floor: sqlite3 + json.loads            {count / elapsed:>12,.0f} rows/s")
    return count / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the database here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "replay.db"
        if not path.exists():
            await build(path, args.events)
        read_floor(path)
        clock = sources().clock
        async with open_log(path, create=False, migrate=False) as log:
            started = time.perf_counter()
            state = await replay(log.events)
            elapsed = time.perf_counter() - started
            expected = state_hash(state)
            print(
                f"replay (fold from the log alone)           {state.seq / elapsed:>12,.0f} events/s"
            )
            await log.snapshots.save(state, created_at=clock())

        started = time.perf_counter()
        async with open_log(path, create=False, migrate=False) as log:
            cold = await load_state(log.events, log.snapshots, use_snapshots=False)
        no_snapshot = time.perf_counter() - started

        started = time.perf_counter()
        async with open_log(path, create=False, migrate=False) as log:
            warm = await load_state(log.events, log.snapshots)
        with_snapshot = time.perf_counter() - started

        if state_hash(cold.state) != expected or state_hash(warm.state) != expected:
            raise SystemExit("FAILED: a cold start reached a different state than the replay")
        if warm.snapshot_seq != state.seq:
            raise SystemExit(f"FAILED: the snapshot was not used ({warm.skipped})")
        print(f"cold start without snapshot ({state.seq:,} events) {no_snapshot:>9.2f} s")
        print(
            f"cold start with snapshot                   {with_snapshot:>9.3f} s   (target < 1 s)"
        )
        print(f"state-hash: {expected}")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
