"""Append throughput and acknowledgement latency of the SQLite event log, beside raw sqlite3.

Usage: python bench/append.py [--single N] [--clients C] [--per-client M] [--batches B]

Prints, on a file database in a temporary folder (WAL, synchronous=NORMAL):
  (a) one client appending one event at a time, awaiting each acknowledgement;
  (b) C concurrent clients each appending single events (group commit);
  (c) batches of 1 000 events;
and, in the same run, the raw sqlite3 floor for the same rows (one transaction per row, and
batched). Each scenario checks afterwards that every acknowledged event is in the log and that
the hash chain verifies, before its figures are printed.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.bootstrap import sources  # noqa: E402
from bench._common import new_event, percentile  # noqa: E402
from domain.codec import EventCodec  # noqa: E402
from storage.chain import first_break  # noqa: E402
from storage.eventstore import assign, prepare  # noqa: E402
from storage.sqlite_store import SqliteEventStore  # noqa: E402

INSERT = (
    "INSERT INTO events (seq, event_id, type, version, occurred_at, recorded_at, track, payload, "
    "hash) VALUES (?,?,?,?,?,?,?,?,?)"
)


def _check(store: SqliteEventStore, expected: int) -> None:
    count = sum(1 for _ in store.iter_rows())
    if count != expected:
        raise SystemExit(f"FAILED: {expected} events acknowledged, {count} in the log")
    broken = first_break(store.iter_rows())
    if broken is not None:
        raise SystemExit(f"FAILED: hash chain broken at {broken.seq}: {broken.reason}")


def _report(name: str, events: int, seconds: float, latencies: list[float] | None) -> None:
    line = f"{name:<44} {events / seconds:>12,.0f} events/s"
    if latencies:
        p50 = percentile(latencies, 50) * 1000
        p99 = percentile(latencies, 99) * 1000
        line += f"   p50 {p50:6.3f} ms   p99 {p99:6.3f} ms"
    print(line, flush=True)


async def single(path: Path, n: int) -> float:
    store = await SqliteEventStore.open(path, clock=sources().clock)
    latencies = []
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        await store.append([new_event(i)])
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    _check(store, n)
    await store.aclose()
    _report("(a) one client, one event per append", n, elapsed, latencies)
    return n / elapsed


async def concurrent(path: Path, clients: int, per_client: int) -> float:
    store = await SqliteEventStore.open(path, clock=sources().clock)
    latencies: list[float] = []

    async def client(c: int) -> None:
        for j in range(per_client):
            t0 = time.perf_counter()
            await store.append([new_event(c * per_client + j)])
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for c in range(clients):
            tg.start_soon(client, c)
    elapsed = time.perf_counter() - started
    total = clients * per_client
    _check(store, total)
    await store.aclose()
    _report(f"(b) {clients} concurrent clients, single events", total, elapsed, latencies)
    return total / elapsed


async def batched(path: Path, batches: int, size: int = 1000) -> float:
    store = await SqliteEventStore.open(path, clock=sources().clock)
    latencies = []
    all_events = [[new_event(b * size + i) for i in range(size)] for b in range(batches)]
    started = time.perf_counter()
    for events in all_events:
        t0 = time.perf_counter()
        await store.append(events)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    _check(store, batches * size)
    await store.aclose()
    _report(f"(c) batches of {size}", batches * size, elapsed, latencies)
    return batches * size / elapsed


def raw_floor(path: Path, n: int, batch: int) -> float:
    """Plain sqlite3 on the migrated schema: the same rows, hashes precomputed."""
    codec = EventCodec()
    rows, _ = assign(
        [prepare(codec, [new_event(i) for i in range(n)])],
        last_seq=0,
        last_hash="0" * 64,
        existing={},
        recorded_at=0,
    )
    values = [
        (
            r.row.seq,
            r.row.event_id,
            r.row.type,
            r.row.version,
            r.row.occurred_at,
            r.row.recorded_at,
            r.track,
            r.row.payload,
            r.row.hash,
        )
        for r in rows
    ]
    connection = sqlite3.connect(str(path), isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    for start in range(0, n, batch):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(INSERT, values[start : start + batch])
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    count = connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    connection.close()
    if count != n:
        raise SystemExit(f"FAILED: raw floor wrote {count} of {n} rows")
    label = (
        "raw sqlite3, one transaction per row" if batch == 1 else f"raw sqlite3, batches of {batch}"
    )
    _report(label, n, elapsed, None)
    return n / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--per-client", type=int, default=500)
    parser.add_argument("--batches", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        async def fresh(name: str) -> Path:
            path = folder / name
            store = await SqliteEventStore.open(path, clock=sources().clock)
            await store.aclose()
            return path

        floor_single = raw_floor(await fresh("raw1.db"), args.single, 1)
        raw_floor(await fresh("raw1000.db"), args.batches * 1000, 1000)
        a = await single(await fresh("a.db"), args.single)
        b = await concurrent(await fresh("b.db"), args.clients, args.per_client)
        c = await batched(await fresh("c.db"), args.batches)
    print()
    print(f"(a) / raw single-commit floor: {a / floor_single:.0%}   (target >= 50%)")
    print(f"(b) {b:,.0f} events/s          (target >= 50,000 with p99 < 10 ms)")
    print(f"(c) {c:,.0f} events/s          (target >= 100,000)")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
