"""Replay speed, cold start and bytes per event of the log, beside its anchors.

Usage: python bench/replay.py [--db postgresql://…] [--events N] [--rounds R] [--keep DIR]
                              [--no-eventsourcing] [--live N]

With `--db postgresql://…` the log is built on that server (schema `bench_replay` of that
database, eventsourcing's in `bench_replay_es`) and the floor is psycopg scanning the payloads
page by page with json.loads (bench/_pg_rounds.py); beside the replay it measures the read alone
(every row verified and decoded, nothing folded), to show what the fold costs on top; the rest
is the same. Without it, on SQLite:

Builds a log of N events (default 1 000 000: a library of 50 tracks, then a listening mix of
position reports, seeks, preset and track changes), and the same events in the `eventsourcing`
library's SQLite store, then runs R rounds, interleaved:
  - the floor: sqlite3 scan of the log's payloads, each decoded with json.loads;
  - the floor with the chain: every column scanned and each row's SHA-256 checked as well;
  - tierbuffer replay: every row verified against the chain, decoded and folded (planning on),
    what `tierbuffer replay` and a start without snapshot do;
  - eventsourcing: select notifications + deserialise + project with the same fold.
It prints min / median / max of each and of the ratios within a round, the load average, the
database bytes per event of both, and cold starts without and with a snapshot. Every replay must
reach the same state hash, or the run fails before printing.

The log above is appended in batches of 10 000 long after its events' time, so every row's
recorded-at is far from its occurred-at. `--live N` also builds the first N of the same events
recorded as a player sends them while it plays (each appended alone, recorded 3 ms after it
occurred) and prints that log's bytes per event: what the service's own log holds.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.bootstrap import open_log, sources  # noqa: E402
from bench._anchors import (  # noqa: E402
    es_build,
    es_replay,
    raw_replay_floor,
    raw_replay_floor_hashed,
)
from bench._common import load, new_event  # noqa: E402
from domain.events import DomainEvent  # noqa: E402
from domain.state import state_hash  # noqa: E402
from storage.location import Location, PgUrl, location  # noqa: E402
from storage.projector import load_state, replay  # noqa: E402

BATCH = 10_000
#: How long after it occurred a live event is recorded (`--live`).
LIVE_LAG_MS = 3


async def build(path: Location, n: int) -> None:
    started = time.perf_counter()
    async with open_log(path, create=True, migrate=True) as log:
        for start in range(0, n, BATCH):
            await log.events.append([new_event(i) for i in range(start, min(n, start + BATCH))])
        count = await log.events.last_seq()
    if count != n:
        raise SystemExit(f"FAILED: built {count} events, wanted {n}")
    print(f"built a log of {n:,} events in {time.perf_counter() - started:.1f} s", flush=True)


async def build_live(path: Path, n: int) -> None:
    """The first `n` events recorded as they happen: one append each, LIVE_LAG_MS after it."""
    now = 0

    def clock() -> int:
        return now + LIVE_LAG_MS

    async with open_log(path, create=True, migrate=True, clock=clock) as log:
        for i in range(n):
            event = new_event(i)
            now = event.occurred_at
            await log.events.append([event])
        count = await log.events.last_seq()
    if count != n:
        raise SystemExit(f"FAILED: built {count} live events, wanted {n}")


def bytes_per_event(path: Path, table: str) -> tuple[float, float]:
    """Database bytes per row (WAL folded in, free pages left out) and mean payload bytes."""
    connection = sqlite3.connect(str(path))
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, free, size = (
            connection.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_count", "freelist_count", "page_size")
        )
        rows = connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        column = "payload" if table == "events" else "state"
        payload = connection.execute(f"SELECT AVG(LENGTH({column})) FROM {table}").fetchone()[0]
    finally:
        connection.close()
    return (pages - free) * size / rows, float(payload)


def _convert(kind: str, fields: dict[str, Any]) -> DomainEvent:
    return msgspec.convert({"type": kind, **fields}, DomainEvent)  # type: ignore[arg-type]


async def tb_replay(path: Location) -> tuple[float, str]:
    async with open_log(path, create=False, migrate=False) as log:
        started = time.perf_counter()
        state = await replay(log.events)
        elapsed = time.perf_counter() - started
    return state.seq / elapsed, state_hash(state)


async def cold_starts(path: Location, expected: str) -> tuple[float, float]:
    async with open_log(path, create=False, migrate=False) as log:
        state = await replay(log.events)
        await log.snapshots.save(state, created_at=sources().clock())
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
    return no_snapshot, with_snapshot


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the databases in this folder")
    parser.add_argument("--no-eventsourcing", action="store_true")
    parser.add_argument("--db", default=None, help="a postgresql:// URL: measure the log there")
    parser.add_argument("--live", type=int, default=0, help="also measure N events recorded live")
    args = parser.parse_args()
    if args.db is not None:
        await pg_main(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path, es_path = folder / "replay.db", folder / "replay-es.db"
        if not path.exists():
            await build(path, args.events)
        use_es = not args.no_eventsourcing
        if use_es and not es_path.exists():
            events = (new_event(i) for i in range(args.events))
            await anyio.to_thread.run_sync(lambda: es_build(es_path, events))
        print(f"load average before: {load()}", flush=True)
        figures: dict[str, list[float]] = defaultdict(list)
        hashes = set()
        for r in range(args.rounds):
            floor = raw_replay_floor(path)
            hashed = raw_replay_floor_hashed(path)
            rate, digest = await tb_replay(path)
            hashes.add(digest)
            figures["floor: sqlite3 scan + json.loads, rows/s"].append(floor)
            figures["tierbuffer replay (verified, planning on), events/s"].append(rate)
            figures["floor + chain check (sha256 per row), rows/s"].append(hashed)
            figures["ratio tierbuffer / floor"].append(rate / floor)
            figures["ratio tierbuffer / floor + chain check"].append(rate / hashed)
            if use_es:
                es = await anyio.to_thread.run_sync(es_replay, es_path, _convert)
                figures["eventsourcing select + deserialise + project, events/s"].append(es)
                figures["ratio tierbuffer / eventsourcing"].append(rate / es)
            print(f"round {r + 1}/{args.rounds} done, load {load()}", flush=True)
        if len(hashes) != 1:
            raise SystemExit(f"FAILED: replays reached different states {hashes}")
        report(figures)
        print(f"load average after: {load()}")
        tb_bytes, tb_payload = bytes_per_event(path, "events")
        print(f"\ndatabase bytes per event: tierbuffer {tb_bytes:.1f} (payload {tb_payload:.0f})")
        if use_es:
            es_bytes, es_payload = bytes_per_event(es_path, "stored_events")
            print(f"{'':26}eventsourcing {es_bytes:.0f} (payload {es_payload:.0f})")
        if args.live:
            live = folder / "replay-live.db"
            if not live.exists():
                await build_live(live, args.live)
            live_bytes, _ = bytes_per_event(live, "events")
            print(f"{'':26}tierbuffer, {args.live:,} events recorded live: {live_bytes:.1f}")
        no_snapshot, with_snapshot = await cold_starts(path, hashes.pop())
        print(f"cold start without snapshot: {no_snapshot:.2f} s; with: {with_snapshot:.3f} s")


TARGETS = {"ratio tierbuffer / floor": ">= 0.85", "ratio tierbuffer / eventsourcing": ">= 3"}


async def pg_main(args: argparse.Namespace) -> None:
    from bench._pg_rounds import REPLAY_TARGETS, replay_main

    base = location(args.db)
    if not isinstance(base, PgUrl):
        raise SystemExit("--db takes a postgresql:// URL")
    figures: dict[str, list[float]] = defaultdict(list)
    url, hashes = await replay_main(base, args, figures, build, tb_replay, _convert, load)
    if len(hashes) != 1:
        raise SystemExit(f"FAILED: replays reached different states {hashes}")
    TARGETS.clear()
    TARGETS.update(REPLAY_TARGETS)
    report(figures)
    print(f"load average after: {load()}")
    no_snapshot, with_snapshot = await cold_starts(url, hashes.pop())
    print(f"cold start without snapshot: {no_snapshot:.2f} s; with: {with_snapshot:.3f} s")


def report(figures: dict[str, list[float]]) -> None:
    print(f"\n{'figure':<56} {'min':>10} {'median':>10} {'max':>10}   target")
    for name, values in figures.items():
        low, mid, high = min(values), statistics.median(values), max(values)
        if name.startswith("ratio"):
            line = f"{low:10.2f} {mid:10.2f} {high:10.2f}"
        else:
            line = f"{low:10,.0f} {mid:10,.0f} {high:10,.0f}"
        print(f"{name:<56} {line}   {TARGETS.get(name, '')}")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
