"""Which PostgreSQL driver for the log: psycopg 3 and asyncpg doing the log's work, interleaved.

Usage: python bench/pg_drivers.py --db postgresql://… [--rounds R] [--single N] [--scan N]

Per round, on a fresh `events` table each time (the log's own rows: ids, hashes, payloads
precomputed by `storage.batch`): one row per transaction (a single INSERT, autocommit), batches
of 1 000 rows as one `INSERT … SELECT FROM unnest(arrays)`, and a scan of N rows in sequence
order with the payload decoded by json.loads. min / median / max, and psycopg ÷ asyncpg within a
round. Each side checks its row count before its figure counts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._anchors import raw_values  # noqa: E402
from bench._common import load, new_event  # noqa: E402
from domain.codec import EventCodec  # noqa: E402

TABLE = """CREATE TABLE events (seq BIGINT PRIMARY KEY, event_id BYTEA NOT NULL UNIQUE,
type_code SMALLINT NOT NULL, version INTEGER NOT NULL, occurred_at BIGINT NOT NULL,
recorded_lag BIGINT NOT NULL, payload BYTEA NOT NULL, hash BYTEA NOT NULL, track TEXT,
chain INTEGER NOT NULL)"""
COLUMNS = (
    "seq, event_id, type_code, version, occurred_at, recorded_lag, payload, hash, track, chain"
)
TYPES = ("bigint", "bytea", "smallint", "int", "bigint", "bigint", "bytea", "bytea", "text", "int")


def unnest(marks: list[str]) -> str:
    arrays = ", ".join(f"{m}::{t}[]" for m, t in zip(marks, TYPES, strict=True))
    return f"INSERT INTO events ({COLUMNS}) SELECT * FROM unnest({arrays})"


async def psycopg_round(url: str, rows: list[tuple[Any, ...]], single: int) -> dict[str, float]:
    import psycopg

    out = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("DROP TABLE IF EXISTS events")
        await conn.execute(TABLE)
        insert = f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join(['%b'] * 10)})"
        started = time.perf_counter()
        for row in rows[:single]:
            await conn.execute(insert, row, prepare=True)
        out["single"] = single / (time.perf_counter() - started)
        statement = unnest(["%b"] * 10)
        started = time.perf_counter()
        for start in range(single, len(rows), 1000):
            columns = [list(c) for c in zip(*rows[start : start + 1000], strict=True)]
            await conn.execute(statement, columns, prepare=True)
        out["batched"] = (len(rows) - single) / (time.perf_counter() - started)
        cursor = conn.cursor(binary=True)
        started = time.perf_counter()
        count = 0
        await cursor.execute("SELECT payload FROM events ORDER BY seq")
        for (payload,) in await cursor.fetchall():
            json.loads(payload)
            count += 1
        out["scan"] = count / (time.perf_counter() - started)
    if count != len(rows):
        raise SystemExit(f"FAILED: psycopg stored {count} of {len(rows)} rows")
    return out


async def asyncpg_round(url: str, rows: list[tuple[Any, ...]], single: int) -> dict[str, float]:
    import asyncpg

    out = {}
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP TABLE IF EXISTS events")
        await conn.execute(TABLE)
        insert = (
            f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 11))})"
        )
        started = time.perf_counter()
        for row in rows[:single]:
            await conn.execute(insert, *row)
        out["single"] = single / (time.perf_counter() - started)
        statement = unnest([f"${i}" for i in range(1, 11)])
        started = time.perf_counter()
        for start in range(single, len(rows), 1000):
            columns = [list(c) for c in zip(*rows[start : start + 1000], strict=True)]
            await conn.execute(statement, *columns)
        out["batched"] = (len(rows) - single) / (time.perf_counter() - started)
        started = time.perf_counter()
        count = 0
        for record in await conn.fetch("SELECT payload FROM events ORDER BY seq"):
            json.loads(record[0])
            count += 1
        out["scan"] = count / (time.perf_counter() - started)
    finally:
        await conn.close()
    if count != len(rows):
        raise SystemExit(f"FAILED: asyncpg stored {count} of {len(rows)} rows")
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--single", type=int, default=3000)
    parser.add_argument("--scan", type=int, default=100_000)
    args = parser.parse_args()
    rows = raw_values([new_event(i) for i in range(args.single + args.scan)], EventCodec())
    figures: dict[str, list[float]] = defaultdict(list)
    print(f"load average before: {load()}", flush=True)
    for r in range(args.rounds):
        a = await psycopg_round(args.db, rows, args.single)
        b = await asyncpg_round(args.db, rows, args.single)
        for key in a:
            figures[f"psycopg 3, {key}"].append(a[key])
            figures[f"asyncpg, {key}"].append(b[key])
            figures[f"ratio psycopg / asyncpg, {key}"].append(a[key] / b[key])
        print(f"round {r + 1}/{args.rounds} done, load {load()}", flush=True)
    print(f"\n{'figure (rows/s)':<36} {'min':>10} {'median':>10} {'max':>10}")
    for name, values in sorted(figures.items()):
        fmt = "{:10.2f}" if name.startswith("ratio") else "{:10,.0f}"
        low, mid, high = (
            fmt.format(v) for v in (min(values), statistics.median(values), max(values))
        )
        print(f"{name:<36} {low} {mid} {high}")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
