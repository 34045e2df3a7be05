"""The SQLite writer: a caller cancelled while its commit runs is not answered (the others in its
group are); answers from the writer thread reach every event loop whose callers took part in the
commit; a group's rows go in as a few multi-row statements, retried ids among them included."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from domain.events import PositionReported
from storage.chain import first_break
from storage.sqlite_store import SqliteEventStore
from storage.sqlite_writer import MAX_INSERT_ROWS, _answer
from tests.support.clock import FixedClock
from tests.support.events import mixed_events, new_event

pytestmark = pytest.mark.anyio


async def test_a_caller_cancelled_before_its_group_commits_is_not_answered_and_the_rest_are(
    db_path: Path, clock: FixedClock
) -> None:
    store = await SqliteEventStore.open(db_path, clock=clock)
    try:
        events = [new_event(PositionReported(position_ms=i)) for i in range(3)]
        with anyio.fail_after(10):
            doomed = asyncio.ensure_future(store.append([events[0]]))
            others = [asyncio.ensure_future(store.append([e])) for e in events[1:]]
            await asyncio.sleep(0)  # each task has gathered its event; the flush comes next
            assert not doomed.done()
            doomed.cancel()  # its future is cancelled before the flush answers it
            assert sorted(s for r in await asyncio.gather(*others) for s in r) == [2, 3]
            with pytest.raises(asyncio.CancelledError):
                await doomed
        # Its event was committed with the group: a retry with the same id gets its number.
        assert await store.append([events[0]]) == [1]
        assert await store.last_seq() == 3
        assert first_break(store.iter_rows()) is None
    finally:
        await store.aclose()


@pytest.fixture
def other_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a thread of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def _result_on(loop: asyncio.AbstractEventLoop, future: asyncio.Future[list[int]]) -> object:
    async def wait() -> object:
        return await future

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(wait(), loop))


async def test_answers_from_the_writer_thread_reach_each_callers_own_loop(
    other_loop: asyncio.AbstractEventLoop,
) -> None:
    here = asyncio.get_running_loop()
    futures = [here.create_future(), other_loop.create_future(), here.create_future()]
    await anyio.to_thread.run_sync(_answer, futures, [[1], [2, 3], [4]])
    with anyio.fail_after(10):
        assert await futures[0] == [1]
        assert await futures[2] == [4]
        assert await _result_on(other_loop, futures[1]) == [2, 3]


async def test_a_failed_commit_is_every_callers_error_on_every_loop(
    other_loop: asyncio.AbstractEventLoop,
) -> None:
    here = asyncio.get_running_loop()
    futures = [other_loop.create_future(), here.create_future()]
    error = OSError("the commit failed")
    await anyio.to_thread.run_sync(_answer, futures, error)
    with anyio.fail_after(10):
        with pytest.raises(OSError) as raised:
            await futures[1]
        assert raised.value is error
        with pytest.raises(OSError):
            await _result_on(other_loop, futures[0])


@pytest.mark.parametrize("size", [1, 2, 3, 63, 64, 65, 100, 129, 1000])
async def test_a_group_of_any_size_goes_in_whole_as_few_multi_row_statements(
    db_path: Path, clock: FixedClock, size: int
) -> None:
    store = await SqliteEventStore.open(db_path, clock=clock)
    inserts: list[str] = []
    store._writer._connection.set_trace_callback(
        lambda sql: inserts.append(sql) if sql.startswith("INSERT INTO events") else None
    )
    try:
        first = await store.append(mixed_events(3, seed=1))
        inserts.clear()
        events = mixed_events(size, seed=size)
        assert await store.append(events) == list(range(4, 4 + size))
        # Whole statements of MAX_INSERT_ROWS rows, then one per power of two of the rest.
        full, rest = divmod(size, MAX_INSERT_ROWS)
        assert len(inserts) == full + rest.bit_count()
        rows = list(store.iter_rows())
        assert [r.seq for r in rows] == [*first, *range(4, 4 + size)]
        assert [r.event_id for r in rows[3:]] == [e.event_id for e in events]
        assert first_break(rows) is None
    finally:
        await store.aclose()


async def test_retried_ids_among_new_ones_in_a_large_group_get_their_stored_numbers(
    db_path: Path, clock: FixedClock
) -> None:
    store = await SqliteEventStore.open(db_path, clock=clock)
    try:
        old = mixed_events(100, seed=3)
        assert await store.append(old) == list(range(1, 101))
        new = mixed_events(50, seed=4)
        mixed = [e for pair in zip(old[::2], new, strict=True) for e in pair] + old[1::2]
        expected = [s for pair in zip(range(1, 101, 2), range(101, 151), strict=True) for s in pair]
        assert await store.append(mixed) == expected + list(range(2, 101, 2))
        rows = list(store.iter_rows())
        assert [r.event_id for r in rows] == [e.event_id for e in old + new]
        assert first_break(rows) is None
    finally:
        await store.aclose()


async def test_at_full_groups_queued_while_the_thread_commits_share_its_next_commit(
    db_path: Path, clock: FixedClock
) -> None:
    """At synchronous=FULL every commit waits for an fsync on the writer thread; what queues
    meanwhile goes into one commit after it, so appends share fsyncs."""
    store = await SqliteEventStore.open(db_path, clock=clock, synchronous="FULL")
    commits: list[str] = []
    store._writer._connection.set_trace_callback(
        lambda sql: commits.append(sql) if sql == "COMMIT" else None
    )
    lock = store._writer._lock
    try:
        with anyio.fail_after(10):
            lock.acquire()  # the thread takes the first group and waits here, as in a commit
            try:
                tasks = []
                for i in range(5):  # five groups, one per loop iteration
                    event = new_event(PositionReported(position_ms=i))
                    tasks.append(asyncio.ensure_future(store.append([event])))
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
                assert not any(t.done() for t in tasks)
            finally:
                lock.release()
            assert sorted(s for r in await asyncio.gather(*tasks) for s in r) == [1, 2, 3, 4, 5]
        assert 1 <= len(commits) <= 2, f"{len(commits)} commits for five queued groups"
        assert first_break(store.iter_rows()) is None
    finally:
        await store.aclose()
