"""Append throughput and acknowledgement latency of the event log, beside its anchors.

Usage: python bench/append.py [--db postgresql://…] [--rounds R] [--single N] [--full N]
                              [--clients C] [--per-client M] [--batches B] [--no-eventsourcing]

With `--db postgresql://…` the log is measured on that server (each scenario in a fresh schema of
that database, bench/_pg_rounds.py) beside raw psycopg (one INSERT per transaction; executemany
of 1 000 rows per transaction) and eventsourcing's PostgreSQL recorder; there is no FULL round
(the server's own `synchronous_commit` and `fsync` decide). Without it, on SQLite:

Each round runs, interleaved on fresh files in a temporary folder:
  single, NORMAL: raw sqlite3 one commit per row | tierbuffer one event per append | eventsourcing
                  one `app.save` per event (all at synchronous=NORMAL);
  single, FULL:   the same three at synchronous=FULL;
  concurrent:     C clients on one event loop appending single events (group commit);
  batched:        raw sqlite3 batches of 1 000 (executemany, and again as the multi-row INSERTs
                  the store writes) | tierbuffer batches of 1 000 | eventsourcing's recorder,
                  1 000 mapped events per insert.
Then, for every figure, min / median / max over the rounds, and every ratio computed within a
round (so both sides saw the same load), with the load average before and after. Each scenario
checks that every acknowledged event is in the log and the chain verifies before it counts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.bootstrap import sources  # noqa: E402
from bench import _workloads as workloads  # noqa: E402
from bench._anchors import es_batched, es_single, raw_append, raw_values  # noqa: E402
from bench._common import load, new_event, percentile  # noqa: E402
from domain.codec import EventCodec  # noqa: E402
from storage.sqlite_file import Synchronous  # noqa: E402
from storage.sqlite_store import SqliteEventStore  # noqa: E402
from storage.sqlite_writer import MAX_INSERT_ROWS  # noqa: E402

Figures = dict[str, list[float]]


async def tb_single(path: Path, n: int, synchronous: Synchronous) -> tuple[float, list[float]]:
    store = await SqliteEventStore.open(path, clock=sources().clock, synchronous=synchronous)
    return await workloads.single(store, n)


async def tb_concurrent(path: Path, clients: int, per_client: int) -> tuple[float, list[float]]:
    store = await SqliteEventStore.open(path, clock=sources().clock)
    return await workloads.concurrent(store, clients, per_client)


async def tb_batched(path: Path, batches: int, size: int = 1000) -> float:
    store = await SqliteEventStore.open(path, clock=sources().clock)
    return await workloads.batched(store, batches, size)


def _p99(latencies: list[float]) -> float:
    return percentile(latencies, 99) * 1000


async def one_round(folder: Path, args: argparse.Namespace, figures: Figures) -> None:
    counter = iter(range(10**6))

    async def fresh() -> Path:
        path = folder / f"{next(counter)}.db"
        store = await SqliteEventStore.open(path, clock=sources().clock)
        await store.aclose()
        return path

    codec = EventCodec()
    use_es = not args.no_eventsourcing

    async def sync_path(fn: Callable[..., object], *a: object) -> object:
        return await anyio.to_thread.run_sync(lambda: fn(*a))

    for sync, n in (("NORMAL", args.single), ("FULL", args.full)):
        values = raw_values([new_event(i) for i in range(n)], codec)
        raw, _ = await sync_path(raw_append, await fresh(), values, 1, sync)  # type: ignore[misc]
        tb, lat = await tb_single(await fresh(), n, sync)  # type: ignore[arg-type]
        figures[f"raw sqlite3, commit per row, {sync}"].append(raw)
        figures[f"tierbuffer, one event per append, {sync}"].append(tb)
        figures[f"  p99 ms, {sync}"].append(_p99(lat))
        figures[f"ratio tierbuffer / raw, single, {sync}"].append(tb / raw)
        if use_es:
            es, _ = await sync_path(es_single, folder / f"es{next(counter)}.db", n, sync)  # type: ignore[misc]
            figures[f"eventsourcing app.save per event, {sync}"].append(es)
            figures[f"ratio tierbuffer / eventsourcing, single, {sync}"].append(tb / es)
            # The ceiling of that ratio: one client cannot commit faster than raw sqlite3 does.
            figures[f"ratio raw / eventsourcing, single, {sync}"].append(raw / es)
        if sync == "NORMAL":
            figures["_raw_normal"].append(raw)

    conc, lat = await tb_concurrent(await fresh(), args.clients, args.per_client)
    figures[f"tierbuffer, {args.clients} clients, single events"].append(conc)
    figures[f"  p99 ms, {args.clients} clients"].append(_p99(lat))
    figures["ratio concurrent / raw commit per row"].append(conc / figures["_raw_normal"][-1])

    n = args.batches * 1000
    values = raw_values([new_event(i) for i in range(n)], codec)
    raw, _ = await sync_path(raw_append, await fresh(), values, 1000, "NORMAL")  # type: ignore[misc]
    tb = await tb_batched(await fresh(), args.batches)
    multi, _ = await sync_path(raw_append, await fresh(), values, 1000, "NORMAL", MAX_INSERT_ROWS)  # type: ignore[misc]
    figures["raw sqlite3, batches of 1000"].append(raw)
    figures[f"raw sqlite3, the same as INSERTs of {MAX_INSERT_ROWS} rows"].append(multi)
    figures["tierbuffer, batches of 1000"].append(tb)
    figures["ratio tierbuffer / raw, batched"].append(tb / raw)
    figures[f"ratio tierbuffer / raw, batched, INSERTs of {MAX_INSERT_ROWS}"].append(tb / multi)
    if use_es:
        es = await sync_path(es_batched, folder / f"es{next(counter)}.db", n, 1000, "NORMAL")
        figures["eventsourcing recorder, batches of 1000"].append(es)  # type: ignore[arg-type]
        figures["ratio tierbuffer / eventsourcing, batched"].append(tb / es)  # type: ignore[operator]


TARGETS = {
    "ratio tierbuffer / raw, single, NORMAL": ">= 0.5",
    "ratio tierbuffer / eventsourcing, single, NORMAL": ">= 1.5",
    "ratio tierbuffer / eventsourcing, single, FULL": ">= 1.5",
    "ratio concurrent / raw commit per row": ">= 2.5",
    "ratio tierbuffer / raw, batched": ">= 0.8",
    "ratio tierbuffer / eventsourcing, batched": ">= 1.2",
}


def report(figures: Figures) -> None:
    print(f"\n{'figure':<52} {'min':>10} {'median':>10} {'max':>10}   target")
    for name, values in figures.items():
        if name.startswith("_"):
            continue
        ratio = name.startswith("ratio") or name.startswith("  p99")
        fmt = (lambda v: f"{v:10.2f}") if ratio else (lambda v: f"{v:10,.0f}")
        low, mid, high = min(values), statistics.median(values), max(values)
        target = TARGETS.get(name, "< 5" if "p99" in name and "clients" in name else "")
        print(f"{name:<52} {fmt(low)} {fmt(mid)} {fmt(high)}   {target}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="a postgresql:// URL: measure the log there")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--single", type=int, default=5_000)
    parser.add_argument("--full", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--per-client", type=int, default=500)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--no-eventsourcing", action="store_true")
    args = parser.parse_args()
    figures: Figures = defaultdict(list)
    print(f"load average before: {load()}", flush=True)
    if args.db is not None:
        await pg_main(args, figures)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            folder = Path(tmp) / f"round{r}"
            folder.mkdir()
            await one_round(folder, args, figures)
            print(f"round {r + 1}/{args.rounds} done, load {load()}", flush=True)
    report(figures)
    print(f"load average after: {load()}")


async def pg_main(args: argparse.Namespace, figures: Figures) -> None:
    from bench._pg_rounds import APPEND_TARGETS, append_round
    from storage.location import PgUrl, location

    base = location(args.db)
    if not isinstance(base, PgUrl):
        raise SystemExit("--db takes a postgresql:// URL")
    for r in range(args.rounds):
        await append_round(base, args, figures)
        print(f"round {r + 1}/{args.rounds} done, load {load()}", flush=True)
    TARGETS.clear()
    TARGETS.update(APPEND_TARGETS)
    report(figures)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
