"""The PostgreSQL rounds of bench/append.py and bench/replay.py (`--db postgresql://…`): the log
on the server beside raw psycopg and eventsourcing's PostgreSQL recorder, interleaved, each
scenario in a fresh schema of the given database."""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from typing import Any

import anyio
import psycopg

from adapters.bootstrap import open_log, sources
from bench import _pg
from bench import _workloads as workloads
from bench._anchors import raw_values
from bench._common import new_event, percentile
from domain.codec import EventCodec
from storage.location import PgUrl
from storage.migrate import ensure_schema
from storage.pg_store import PgEventStore

Figures = dict[str, list[float]]
_names = itertools.count()


async def schema(base: PgUrl, *, tables: bool = True) -> PgUrl:
    """A fresh schema; with `tables`, holding the log's tables as tierbuffer's migrations make
    them."""
    url = _pg.fresh_schema(base, f"bench_{next(_names)}")
    if tables:
        await ensure_schema(url, upgrade=True)
    return url


async def tb_single(url: PgUrl, n: int) -> tuple[float, list[float]]:
    return await workloads.single(await PgEventStore.open(url, clock=sources().clock), n)


async def tb_concurrent(url: PgUrl, clients: int, per_client: int) -> tuple[float, list[float]]:
    store = await PgEventStore.open(url, clock=sources().clock)
    return await workloads.concurrent(store, clients, per_client)


async def tb_batched(url: PgUrl, batches: int, size: int = 1000) -> float:
    store = await PgEventStore.open(url, clock=sources().clock)
    return await workloads.batched(store, batches, size)


async def _thread(fn: Callable[..., Any], *a: Any) -> Any:
    return await anyio.to_thread.run_sync(lambda: fn(*a))


def _p99(latencies: list[float]) -> float:
    return percentile(latencies, 99) * 1000


async def append_round(base: PgUrl, args: argparse.Namespace, figures: Figures) -> None:
    codec, use_es = EventCodec(), not args.no_eventsourcing
    n = args.single
    values = raw_values([new_event(i) for i in range(n)], codec)
    raw, _ = await _thread(_pg.raw_append, await schema(base), values, 1)
    tb, lat = await tb_single(await schema(base), n)
    figures["raw psycopg, one row per transaction"].append(raw)
    figures["tierbuffer, one event per append"].append(tb)
    figures["  p50 ms, single"].append(percentile(lat, 50) * 1000)
    figures["  p99 ms, single"].append(_p99(lat))
    figures["ratio tierbuffer / raw, single"].append(tb / raw)
    if use_es:
        es = await _thread(_pg.es_single, await schema(base, tables=False), n)
        figures["eventsourcing app.save per event"].append(es)
        figures["ratio tierbuffer / eventsourcing, single"].append(tb / es)

    conc, lat = await tb_concurrent(await schema(base), args.clients, args.per_client)
    figures[f"tierbuffer, {args.clients} clients, single events"].append(conc)
    figures[f"  p99 ms, {args.clients} clients"].append(_p99(lat))
    figures["ratio concurrent / raw one row per transaction"].append(conc / raw)

    n = args.batches * 1000
    values = raw_values([new_event(i) for i in range(n)], codec)
    raw, _ = await _thread(_pg.raw_append, await schema(base), values, 1000)
    tb = await tb_batched(await schema(base), args.batches)
    figures["raw psycopg, batches of 1000 (executemany)"].append(raw)
    figures["tierbuffer, batches of 1000"].append(tb)
    figures["ratio tierbuffer / raw, batched"].append(tb / raw)
    if use_es:
        es = await _thread(_pg.es_batched, await schema(base, tables=False), n, 1000)
        figures["eventsourcing recorder, batches of 1000"].append(es)
        figures["ratio tierbuffer / eventsourcing, batched"].append(tb / es)


APPEND_TARGETS = {
    "ratio tierbuffer / raw, single": ">= 0.5",
    "ratio tierbuffer / raw, batched": ">= 0.7",
}


def bytes_per_event(url: PgUrl, table: str) -> float:
    """The table's bytes on the server (indexes and TOAST included) per row."""
    with psycopg.connect(url.url, autocommit=True) as connection:
        connection.execute(f"VACUUM ANALYZE {table}")
        found = connection.execute(
            f"SELECT pg_total_relation_size('{table}'), (SELECT count(*) FROM {table})"
        ).fetchone()
    if found is None or not found[1]:
        raise SystemExit(f"FAILED: no rows in {table} to measure")
    return float(found[0]) / int(found[1])


async def tb_read(url: PgUrl) -> float:
    """Events/s of the log's bulk read alone: every row verified against the chain and decoded,
    nothing folded (what replay costs before the projection)."""
    async with open_log(url, create=False, migrate=False) as log:
        started = time.perf_counter()
        count = await anyio.to_thread.run_sync(
            lambda: sum(1 for _ in log.events.iter_recorded(after=0))
        )
        elapsed = time.perf_counter() - started
    return count / elapsed


async def replay_main(
    base: PgUrl,
    args: argparse.Namespace,
    figures: Figures,
    build: Callable[[PgUrl, int], Any],
    tb_replay: Callable[[PgUrl], Any],
    convert: Callable[[str, dict[str, Any]], Any],
    load: Callable[[], str],
) -> tuple[PgUrl, set[str]]:
    """Build the log (and eventsourcing's) in schemas of their own, then replay interleaved."""
    url = _pg.fresh_schema(base, "bench_replay")
    await build(url, args.events)
    es_url = _pg.fresh_schema(base, "bench_replay_es")
    use_es = not args.no_eventsourcing
    if use_es:
        events = (new_event(i) for i in range(args.events))
        await anyio.to_thread.run_sync(lambda: _pg.es_build(es_url, events))
    print(f"load average before: {load()}", flush=True)
    hashes = set()
    for r in range(args.rounds):
        floor = await anyio.to_thread.run_sync(_pg.raw_scan, url)
        read = await tb_read(url)
        rate, digest = await tb_replay(url)
        hashes.add(digest)
        figures["floor: psycopg scan + json.loads, rows/s"].append(floor)
        figures["tierbuffer read (verified + decoded, no fold), events/s"].append(read)
        figures["tierbuffer replay (verified, planning on), events/s"].append(rate)
        figures["ratio tierbuffer read / floor"].append(read / floor)
        figures["ratio tierbuffer / floor"].append(rate / floor)
        if use_es:
            es = await anyio.to_thread.run_sync(_pg.es_replay, es_url, convert)
            figures["eventsourcing select + deserialise + project, events/s"].append(es)
            figures["ratio tierbuffer / eventsourcing"].append(rate / es)
        print(f"round {r + 1}/{args.rounds} done, load {load()}", flush=True)
    tb_bytes = bytes_per_event(url, "events")
    print(f"database bytes per event (table + indexes): tierbuffer {tb_bytes:.0f}", end="")
    if use_es:
        print(f", eventsourcing {bytes_per_event(es_url, _pg.es_table(es_url)):.0f}", end="")
    print()
    return url, hashes


REPLAY_TARGETS = {"ratio tierbuffer / floor": ">= 0.7", "ratio tierbuffer / eventsourcing": ""}
