"""Snapshots: newest snapshot + tail equals a full replay, and they are written when due."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain.projection import fold
from domain.state import State, state_hash
from storage.location import PgUrl
from storage.log import SNAPSHOTS_KEPT, snapshot_if_due
from storage.memory_store import InMemoryEventStore
from storage.pg_log import open_pg_log
from storage.pg_store import PgEventStore
from storage.projector import load_state, replay, verify
from storage.snapshots import InMemorySnapshotStore, SnapshotStore
from storage.sqlite_log import open_sqlite_log
from storage.sqlite_store import SqliteEventStore
from tests.support.clock import FixedClock
from tests.support.events import mixed_events

Events = InMemoryEventStore | SqliteEventStore | PgEventStore
Stores = tuple[Events, SnapshotStore]


@pytest.fixture
async def stores(store_kind: str, where: Path | PgUrl, clock: FixedClock) -> AsyncIterator[Stores]:
    """An event store holding 400 mixed events, with an empty snapshot store beside it."""
    if store_kind == "memory":
        events = InMemoryEventStore(clock=clock)
        await events.append(mixed_events(400, seed=11))
        yield events, InMemorySnapshotStore(events)
        return
    if isinstance(where, PgUrl):
        async with open_pg_log(where, clock=clock, migrate=True) as log:
            await log.events.append(mixed_events(400, seed=11))
            yield log.events, log.snapshots
        return
    async with open_sqlite_log(where, clock=clock, create=True, migrate=True) as log:
        await log.events.append(mixed_events(400, seed=11))
        yield log.events, log.snapshots


def state_after(events: Events, seq: int) -> State:
    return fold(itertools.islice(events.iter_recorded(), seq), State())


@pytest.mark.anyio
@pytest.mark.parametrize("cut", [1, 5, 137, 399, 400])
async def test_snapshot_plus_tail_equals_full_replay(stores: Stores, cut: int) -> None:
    events, snapshots = stores
    full = await replay(events)
    assert full.seq == 400
    assert full.tracks, "the session should leave tracks in the library"
    await snapshots.save(state_after(events, cut), created_at=0)

    loaded = await load_state(events, snapshots)
    assert loaded.snapshot_seq == cut
    assert loaded.replayed == 400 - cut
    assert loaded.skipped == []
    assert loaded.state == full
    assert state_hash(loaded.state) == state_hash(full)
    # And ignoring snapshots gives the same.
    assert (await load_state(events, snapshots, use_snapshots=False)).state == full


@pytest.mark.anyio
async def test_the_newest_snapshot_wins_and_the_tail_grows(stores: Stores) -> None:
    events, snapshots = stores
    for cut in (100, 300, 200):
        await snapshots.save(state_after(events, cut), created_at=cut)
    assert await snapshots.latest_seq() == 300
    assert [s.seq async for s in snapshots.newest_first()] == [300, 200, 100]
    more = mixed_events(25, seed=99)
    await events.append(more)
    loaded = await load_state(events, snapshots)
    assert loaded.snapshot_seq == 300
    assert loaded.replayed == 125
    assert loaded.state == await replay(events)
    assert (await verify(events, snapshots)).ok

    assert await snapshots.prune(keep=2) == 1
    assert [s.seq async for s in snapshots.newest_first()] == [300, 200]


@pytest.mark.anyio
async def test_snapshot_if_due(db_path: Path, clock: FixedClock) -> None:
    async with open_sqlite_log(db_path, clock=clock, create=True, migrate=True) as log:

        async def step(count: int, every: int) -> bool:
            await log.events.append(mixed_events(count, seed=count * 1000 + every))
            state = (await load_state(log.events, log.snapshots)).state
            return await snapshot_if_due(log, state, every=every, clock=clock)

        assert await step(5, every=10) is False  # 5 since none
        assert await log.snapshots.latest_seq() is None
        assert await step(5, every=10) is True  # 10 since none
        assert await log.snapshots.latest_seq() == 10
        assert await step(9, every=10) is False  # 9 since 10
        assert await step(4, every=10) is True  # 13 since 10
        assert await log.snapshots.latest_seq() == 23
        assert await step(50, every=0) is False  # 0: never
        for _ in range(SNAPSHOTS_KEPT + 2):
            assert await step(10, every=10) is True
        newest = 73 + 10 * (SNAPSHOTS_KEPT + 2)
        seqs = [s.seq async for s in log.snapshots.newest_first()]
        assert seqs == [newest - 10 * i for i in range(SNAPSHOTS_KEPT)]  # older ones pruned
        assert (await verify(log.events, log.snapshots)).ok
