"""The append workloads of bench/append.py, on any event store (SQLite or PostgreSQL): each
opened store is appended to, checked (every acknowledged event in the log, the chain verifying)
and closed."""

from __future__ import annotations

import time
from typing import Any

import anyio

from bench._common import new_event
from storage.chain import first_break


async def check(store: Any, expected: int) -> None:
    rows = await anyio.to_thread.run_sync(lambda: list(store.iter_rows()))
    if len(rows) != expected:
        raise SystemExit(f"FAILED: {expected} events acknowledged, {len(rows)} in the log")
    broken = first_break(rows)
    if broken is not None:
        raise SystemExit(f"FAILED: hash chain broken at {broken.seq}: {broken.reason}")


async def single(store: Any, n: int) -> tuple[float, list[float]]:
    """One client, one event per append: events/s and each append's latency."""
    events = [new_event(i) for i in range(n)]
    latencies = []
    started = time.perf_counter()
    for event in events:
        t0 = time.perf_counter()
        await store.append([event])
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    await check(store, n)
    await store.aclose()
    return n / elapsed, latencies


async def concurrent(store: Any, clients: int, per_client: int) -> tuple[float, list[float]]:
    """`clients` tasks appending single events at once (group commit).

    The ids are minted before the clock starts, in the order the clients append them (round
    after round, client after client), as a service minting each id when it handles a request
    would have them: each group's ids are neighbours at the unique index's right edge. (Handing
    client c the c-th block of ids instead scattered every group's inserts over the whole index
    and cost about half the throughput: not the work the raw anchor does.)"""
    minted = [new_event(i) for i in range(clients * per_client)]
    # events[c][j]: client c's j-th append, the (j * clients + c)-th id minted.
    events = [minted[c::clients] for c in range(clients)]
    latencies: list[float] = []

    async def client(c: int) -> None:
        for event in events[c]:
            t0 = time.perf_counter()
            await store.append([event])
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for c in range(clients):
            tg.start_soon(client, c)
    elapsed = time.perf_counter() - started
    await check(store, len(minted))
    await store.aclose()
    return len(minted) / elapsed, latencies


async def batched(store: Any, batches: int, size: int = 1000) -> float:
    """Batches of `size` events per append: events/s."""
    all_events = [[new_event(b * size + i) for i in range(size)] for b in range(batches)]
    started = time.perf_counter()
    for events in all_events:
        await store.append(events)
    elapsed = time.perf_counter() - started
    await check(store, batches * size)
    await store.aclose()
    return batches * size / elapsed
