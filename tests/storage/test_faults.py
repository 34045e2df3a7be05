"""What the SQLite store does when the file system or another process works against it.

Each fault ends in a typed `StoreError` carrying its data, nothing of the failed append is
acknowledged, and the chain stays whole; the service's degraded mode acts on these types.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import anyio
import pytest

from domain.events import Paused
from storage.chain import first_break
from storage.errors import DatabaseBusyError, DatabaseReplacedError, DiskFullError
from storage.sqlite_store import SqliteEventStore
from tests.support.clock import FixedClock
from tests.support.events import mixed_events, new_event

pytestmark = pytest.mark.anyio


def _wal(db: Path) -> Path:
    return db.with_name(db.name + "-wal")


def _wal_size(db: Path) -> int:
    return _wal(db).stat().st_size


def _take_away(fault: str, db: Path, spare: Path) -> Path:
    """Delete or replace the database or its WAL behind the store's back; the file that went."""
    if fault == "database-deleted":
        db.unlink()
        return db
    if fault == "database-replaced":
        spare.write_bytes(db.read_bytes())
        os.replace(spare, db)
        return db
    _wal(db).unlink()
    return _wal(db)


async def test_a_write_lock_held_elsewhere_is_a_busy_error_without_blocking_the_loop(
    db_path: Path, clock: FixedClock
) -> None:
    store = await SqliteEventStore.open(db_path, clock=clock, busy_timeout_s=0.3)
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        await store.append(mixed_events(3))
        other.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await anyio.sleep(0.01)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            with pytest.raises(DatabaseBusyError) as raised:
                await store.append([new_event(Paused())])
            tg.cancel_scope.cancel()
        assert raised.value.path == db_path
        assert ticks >= 10, "the event loop was held while waiting for the lock"
        other.execute("ROLLBACK")
        assert await store.last_seq() == 3  # nothing of the refused append
        assert await store.append([new_event(Paused())]) == [4]
        assert first_break(store.iter_rows()) is None
    finally:
        other.close()
        await store.aclose()


async def test_a_full_disk_is_a_disk_full_error_and_nothing_is_acknowledged(
    db_path: Path, clock: FixedClock
) -> None:
    store = await SqliteEventStore.open(db_path, clock=clock)
    try:
        await store.append(mixed_events(5))
        pages = store._writer._connection.execute("PRAGMA page_count").fetchone()[0]
        store._writer._connection.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full
        with pytest.raises(DiskFullError) as raised:
            await store.append(mixed_events(400, seed=3))
        assert raised.value.path == db_path
        assert await store.last_seq() == 5
        store._writer._connection.execute("PRAGMA max_page_count = 1073741823")  # room again
        assert len(await store.append(mixed_events(400, seed=3))) == 400
        assert first_break(store.iter_rows()) is None
    finally:
        await store.aclose()


@pytest.mark.parametrize("fault", ["database-deleted", "database-replaced", "wal-deleted"])
async def test_a_database_or_wal_gone_under_the_store_stops_it_writing(
    db_path: Path, clock: FixedClock, fault: str, tmp_path: Path
) -> None:
    """The append that went to a file nobody will read again is not acknowledged, and no later
    append is: each raises DatabaseReplacedError naming the file."""
    store = await SqliteEventStore.open(db_path, clock=clock)
    try:
        assert await store.append(mixed_events(5)) == [1, 2, 3, 4, 5]
        gone = _take_away(fault, db_path, tmp_path / "other.db")
        with pytest.raises(DatabaseReplacedError) as raised:
            await store.append([new_event(Paused())])
        assert raised.value.what == gone
        with pytest.raises(DatabaseReplacedError):
            await store.append([new_event(Paused())])
    finally:
        await store.aclose()
    # what the store acknowledged is kept beside the database, whole and verifiable
    rescued = raised.value.rescued
    assert rescued is not None and rescued.parent == db_path.parent
    assert str(rescued) in str(raised.value)
    kept = await SqliteEventStore.open(rescued, clock=clock, create=False, migrate=False)
    try:
        rows = list(kept.iter_rows())
        assert [r.seq for r in rows][:5] == [1, 2, 3, 4, 5]
        assert first_break(rows) is None
    finally:
        await kept.aclose()


async def test_the_wal_is_kept_under_its_cap_and_truncated_when_idle(
    db_path: Path, clock: FixedClock
) -> None:
    cap = 256 * 1024
    store = await SqliteEventStore.open(
        db_path, clock=clock, wal_cap_bytes=cap, idle_checkpoint_s=0.2
    )
    try:
        largest = 0
        for seed in range(40):
            await store.append(mixed_events(200, seed=seed))
            largest = max(largest, _wal_size(db_path))
            await anyio.sleep(0.01)  # the checkpointer's turn, as between requests
        # Bounded: a truncation starts as soon as a commit sees the WAL past its cap.
        assert largest < 4 * cap, f"the WAL grew to {largest} bytes"
        for _ in range(200):  # idle: truncated to nothing within seconds (10 s at most)
            if _wal_size(db_path) == 0:
                break
            await anyio.sleep(0.05)
        assert _wal_size(db_path) == 0
        assert first_break(store.iter_rows()) is None
    finally:
        await store.aclose()


async def test_appends_that_arrive_together_share_one_commit(
    db_path: Path, clock: FixedClock
) -> None:
    store = await SqliteEventStore.open(db_path, clock=clock)
    commits: list[str] = []
    store._writer._connection.set_trace_callback(
        lambda sql: commits.append(sql) if sql == "COMMIT" else None
    )
    try:
        events = mixed_events(64)
        results: list[list[int]] = []

        async def client(i: int) -> None:
            results.append(await store.append([events[i]]))

        async with anyio.create_task_group() as tg:
            for i in range(64):
                tg.start_soon(client, i)
        assert sorted(s for r in results for s in r) == list(range(1, 65))
        assert 1 <= len(commits) < 8, f"{len(commits)} commits for 64 concurrent appends"
        assert first_break(store.iter_rows()) is None
    finally:
        await store.aclose()


async def test_two_stores_on_one_file_extend_one_chain(db_path: Path, clock: FixedClock) -> None:
    """Each keeps the chain head in memory and re-reads it when the other committed."""
    first = await SqliteEventStore.open(db_path, clock=clock)
    second = await SqliteEventStore.open(db_path, clock=clock)
    try:
        for seed in range(6):
            store = first if seed % 2 else second
            await store.append(mixed_events(1 + seed, seed=seed))
        rows = list(first.iter_rows())
        assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
        assert first_break(rows) is None
    finally:
        await first.aclose()
        await second.aclose()
