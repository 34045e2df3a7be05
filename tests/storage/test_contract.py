"""The event-store contract, run against the in-memory fake, SQLite and PostgreSQL (a real server,
`tests.support.pgserver`), both migrated by Alembic.

Plus what only a database can show: events surviving a reopen, two processes appending to the
same log, and reads that page through a log larger than one page.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import anyio
import msgspec
import pytest

from domain.events import (
    ChunkKey,
    ChunkRequested,
    NewEvent,
    Paused,
    PositionReported,
    PresetChanged,
    Seeked,
    TrackChanged,
    TrackDeleted,
)
from storage.chain import first_break
from storage.errors import ChainBrokenError, InvalidEventError, StoreClosedError
from storage.location import PgUrl
from storage.memory_store import InMemoryEventStore
from storage.pg_store import PgEventStore
from storage.sqlite_store import SqliteEventStore
from tests.support.clock import FixedClock
from tests.support.events import T0, mixed_events, new_event, track_added
from tests.support.stores import db_exec, open_store

pytestmark = pytest.mark.anyio

Store = InMemoryEventStore | SqliteEventStore | PgEventStore
Where = Path | PgUrl


@pytest.fixture(params=["sqlite", "postgresql"])
def durable(request: pytest.FixtureRequest, db_path: Path) -> Where:
    """Where a database store keeps its log: a temp file, or a new database on the server."""
    if request.param == "postgresql":
        url: PgUrl = request.getfixturevalue("pg_url")
        return url
    return db_path


async def all_rows(store: Store, **filters: object) -> list:  # type: ignore[type-arg]
    return [row async for row in store.read_rows(**filters)]  # type: ignore[arg-type]


async def all_recorded(store: Store, **filters: object) -> list:  # type: ignore[type-arg]
    return [r async for r in store.read(**filters)]  # type: ignore[arg-type]


# --- appending --------------------------------------------------------------------------------


async def test_append_returns_contiguous_seqs_from_one(store: Store) -> None:
    assert await store.last_seq() == 0
    assert await store.append(mixed_events(3)) == [1, 2, 3]
    assert await store.append(mixed_events(2, seed=8)) == [4, 5]
    assert await store.last_seq() == 5
    assert [r.seq for r in await all_rows(store)] == [1, 2, 3, 4, 5]


async def test_appended_events_are_readable_once_append_returns(store: Store) -> None:
    batch = mixed_events(4)
    seqs = await store.append(batch)
    recorded = await all_recorded(store)
    assert [r.seq for r in recorded] == seqs
    assert [r.event for r in recorded] == [n.event for n in batch]
    assert [r.event_id for r in recorded] == [n.event_id for n in batch]
    assert [r.occurred_at for r in recorded] == [n.occurred_at for n in batch]


async def test_empty_append_appends_nothing(store: Store) -> None:
    assert await store.append([]) == []
    assert await store.last_seq() == 0


async def test_recorded_at_comes_from_the_injected_clock(store: Store, clock: FixedClock) -> None:
    await store.append([new_event(Paused(), at=5)])
    clock.advance(1234)
    await store.append([new_event(Paused(), at=6)])
    recorded = await all_recorded(store)
    assert [r.recorded_at for r in recorded] == [clock.now_ms - 1234, clock.now_ms]
    assert [r.occurred_at for r in recorded] == [5, 6]


async def test_appending_a_stored_event_id_again_is_a_noop_returning_its_seq(store: Store) -> None:
    first, second = mixed_events(2)
    assert await store.append([first, second]) == [1, 2]
    before = await all_rows(store)

    assert await store.append([second]) == [2]
    assert await store.append([first, second]) == [1, 2]
    # A retry with different content under the same id is still the stored event, unchanged.
    assert await store.append([NewEvent(first.event_id, 99, Paused())]) == [1]

    assert await store.last_seq() == 2
    assert await all_rows(store) == before


async def test_event_ids_are_compared_as_uuids_not_strings(store: Store) -> None:
    event = new_event(Paused())
    assert await store.append([event]) == [1]
    upper = NewEvent(event.event_id.upper(), event.occurred_at, event.event)
    assert await store.append([upper]) == [1]
    assert await store.last_seq() == 1


async def test_duplicate_ids_within_one_batch_are_stored_once(store: Store) -> None:
    a, b = new_event(Paused()), new_event(PositionReported(position_ms=5))
    assert await store.append([a, a, b, a, b]) == [1, 1, 2, 1, 2]
    assert await store.last_seq() == 2
    assert [r.event_id for r in await all_rows(store)] == [a.event_id, b.event_id]


async def test_duplicates_mixed_with_new_events(store: Store) -> None:
    a, b = new_event(Paused(), at=1), new_event(Paused(), at=2)
    await store.append([a, b])
    c, d = new_event(Seeked(position_ms=3), at=3), new_event(Seeked(position_ms=4), at=4)
    assert await store.append([b, c, a, d, c]) == [2, 3, 1, 4, 3]
    assert [r.event_id for r in await all_rows(store)] == [e.event_id for e in (a, b, c, d)]
    assert first_break(await all_rows(store)) is None


async def test_events_keep_append_order(store: Store) -> None:
    batches = [mixed_events(n, seed=n) for n in (3, 1, 7, 2)]
    expected = []
    for batch in batches:
        await store.append(batch)
        expected.extend(e.event_id for e in batch)
    rows = await all_rows(store)
    assert [r.event_id for r in rows] == expected
    assert [r.seq for r in rows] == list(range(1, len(expected) + 1))


# --- invalid input and lifecycle ---------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        NewEvent("not-a-uuid", T0, Paused()),
        NewEvent("", T0, Paused()),
        NewEvent(str(uuid.uuid4()), -1, Paused()),
    ],
    ids=["id-not-uuid", "id-empty", "negative-occurred-at"],
)
async def test_invalid_event_rejects_the_whole_batch(store: Store, bad: NewEvent) -> None:
    await store.append([new_event(Paused())])
    good = new_event(PositionReported(position_ms=1))
    with pytest.raises(InvalidEventError) as raised:
        await store.append([good, bad])
    assert raised.value.index == 1
    assert "\n" not in str(raised.value)
    assert await store.last_seq() == 1
    assert [r.event_id for r in await all_rows(store)] != [good.event_id]
    # The good event was not half-appended: appending it now gives it the next seq.
    assert await store.append([good]) == [2]


async def test_append_after_close_raises_store_closed(store: Store) -> None:
    await store.append([new_event(Paused())])
    await store.aclose()
    with pytest.raises(StoreClosedError):
        await store.append([new_event(Paused())])
    await store.aclose()  # closing twice is harmless


# --- reading -----------------------------------------------------------------------------------


async def test_read_filters_by_after_types_and_track(store: Store) -> None:
    key = ChunkKey(track="t2", revision=0, preset="warm", intensity_tenths=5, index=3)
    events = [
        new_event(track_added("t1"), at=1),  # 1
        new_event(track_added("t2"), at=2),  # 2
        new_event(TrackChanged(track="t1"), at=3),  # 3
        new_event(PresetChanged(preset="warm"), at=4),  # 4
        new_event(ChunkRequested(key=key), at=5),  # 5: track from event.key.track
        new_event(TrackChanged(track="t2"), at=6),  # 6
        new_event(Paused(), at=7),  # 7: about no track
        new_event(TrackDeleted(track="t1"), at=8),  # 8
    ]
    await store.append(events)

    async def seqs(**filters: object) -> list[int]:
        return [r.seq for r in await all_recorded(store, **filters)]

    assert await seqs() == list(range(1, 9))
    assert await seqs(after=5) == [6, 7, 8]
    assert await seqs(after=8) == []
    assert await seqs(after=100) == []
    assert await seqs(types={"TrackChanged"}) == [3, 6]
    assert await seqs(types=["TrackChanged", "Paused"]) == [3, 6, 7]
    assert await seqs(types=set()) == []
    assert await seqs(types={"NoSuchType"}) == []
    assert await seqs(track="t1") == [1, 3, 8]
    assert await seqs(track="t2") == [2, 5, 6]
    assert await seqs(track="nobody") == []
    assert await seqs(track="t2", types={"TrackChanged", "ChunkRequested"}) == [5, 6]
    assert await seqs(track="t1", after=1) == [3, 8]
    assert await seqs(types={"TrackAdded", "TrackDeleted"}, after=1) == [2, 8]
    rows = await all_rows(store, track="t2", types={"ChunkRequested"})
    assert [(r.seq, r.type) for r in rows] == [(5, "ChunkRequested")]


async def test_read_rows_form_a_verifying_hash_chain(store: Store) -> None:
    for n in (1, 5, 2, 30):
        await store.append(mixed_events(n, seed=n))
    rows = await all_rows(store)
    assert len(rows) == 38
    assert first_break(rows) is None
    assert all(len(r.hash) == 64 for r in rows)
    assert len({r.hash for r in rows}) == len(rows)
    # The blocking iterators used for bulk replay agree with the async reads.
    assert list(store.iter_rows()) == rows
    assert list(store.iter_rows(after=30)) == rows[30:]
    assert [r.seq for r in store.iter_recorded(after=36)] == [37, 38]


async def test_a_long_log_reads_back_in_order(store: Store) -> None:
    """More events than one page of the SQLite reader, read back in order, streamed."""
    total = 5000
    for start in range(0, total, 1000):
        batch = [
            new_event(PositionReported(position_ms=i), at=T0 + i)
            for i in range(start, start + 1000)
        ]
        await store.append(batch)
    positions = []
    async for recorded in store.read():
        positions.append(recorded.event.position_ms)  # type: ignore[union-attr]
    assert positions == list(range(total))
    tail = [r.seq async for r in store.read(after=4321)]
    assert tail == list(range(4322, total + 1))
    assert first_break(store.iter_rows()) is None


# --- concurrency -------------------------------------------------------------------------------


async def test_concurrent_appenders_never_interleave_a_batch(store: Store) -> None:
    sizes = [1 + (i * 7) % 5 for i in range(50)]
    batches = [mixed_events(size, seed=i) for i, size in enumerate(sizes)]
    results: dict[int, list[int]] = {}

    async def appender(index: int) -> None:
        results[index] = await store.append(batches[index])

    async with anyio.create_task_group() as tg:
        for index in range(len(batches)):
            tg.start_soon(appender, index)

    total = sum(sizes)
    seen: list[int] = []
    for index, seqs in results.items():
        assert len(seqs) == sizes[index]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"batch {index} interleaved"
        seen.extend(seqs)
    assert sorted(seen) == list(range(1, total + 1))

    rows = await all_rows(store)
    assert first_break(rows) is None
    by_seq = {r.seq: r.event_id for r in rows}
    for index, seqs in results.items():
        assert [by_seq[s] for s in seqs] == [e.event_id for e in batches[index]]


async def test_concurrent_retries_of_one_event_store_it_once(store: Store) -> None:
    event = new_event(Paused())
    results: list[list[int]] = []

    async def retry() -> None:
        results.append(await store.append([event, new_event(Paused())]))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(retry)

    assert await store.last_seq() == 11
    firsts = {seqs[0] for seqs in results}
    assert len(firsts) == 1
    rows = await all_rows(store)
    assert [r.event_id for r in rows].count(event.event_id) == 1
    assert first_break(rows) is None


# --- the databases -----------------------------------------------------------------------------


async def test_events_survive_closing_and_reopening(durable: Where, clock: FixedClock) -> None:
    store = await open_store(durable, clock=clock)
    first = mixed_events(20)
    await store.append(first)
    rows = await all_rows(store)
    await store.aclose()

    reopened = await open_store(durable, clock=clock, migrate=False)
    try:
        assert await all_rows(reopened) == rows
        assert [r.event for r in await all_recorded(reopened)] == [e.event for e in first]
        # The chain continues across the reopen, and old ids are still known.
        assert await reopened.append([first[3], new_event(Paused())]) == [4, 21]
        assert first_break(await all_rows(reopened)) is None
    finally:
        await reopened.aclose()


_APPENDER = textwrap.dedent(
    """
    import json, sys, time, uuid
    import anyio
    from tests.support.clock import FixedClock
    from tests.support.stores import open_store
    from domain.events import NewEvent, PositionReported
    from storage.location import location

    async def main(path, tag, batches, seconds):
        store = await open_store(
            location(path), clock=FixedClock(), migrate=False, busy_timeout_s=30.0
        )
        print("ready", flush=True)
        sys.stdin.readline()
        results = []

        deadline = time.monotonic() + seconds

        async def appender(worker):
            for i in range(worker, batches, 4):
                if seconds and time.monotonic() > deadline:
                    return
                events = [
                    NewEvent(str(uuid.uuid4()), i, PositionReported(position_ms=tag * 10**6 + i))
                    for _ in range(1 + i % 5)
                ]
                seqs = await store.append(events)
                results.append([seqs, [e.event_id for e in events]])

        async with anyio.create_task_group() as tg:
            for worker in range(4):
                tg.start_soon(appender, worker)
        await store.aclose()
        print(json.dumps(results), flush=True)

    args = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    anyio.run(main, *args, backend="asyncio")
    """
)


def run_two_appenders(
    where: Where, batches: int, seconds: float = 0.0
) -> list[list[list[list[object]]]]:
    """Start two appender processes, release them together, return what each appended, per
    process (each stops after `batches` batches, or after `seconds` when given)."""
    target = where.url if isinstance(where, PgUrl) else str(where)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, target, str(tag), str(batches), str(seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in (1, 2)
    ]
    try:
        for proc in procs:  # both have opened the database ...
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:  # ... before either starts appending
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=90 + seconds) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    return [json.loads(out) for out, _ in outputs]


async def test_two_processes_appending_to_one_log_keep_the_chain(
    durable: Where, clock: FixedClock
) -> None:
    """A few seconds of the minute-long run below, in the default suite."""
    await check_two_appenders(durable, clock, batches=10**9, seconds=2.0)


async def check_two_appenders(
    where: Where, clock: FixedClock, *, batches: int, seconds: float = 0.0
) -> int:
    """Two processes append side by side; every acknowledged event is in the log, in its
    batch's order, seqs contiguous, the chain verifies, and the processes' commits
    interleave. Returns how many were appended."""
    store = await open_store(where, clock=clock)  # migrate before the race
    await store.aclose()
    per_process = await anyio.to_thread.run_sync(run_two_appenders, where, batches, seconds)
    results = [item for batches_of_one in per_process for item in batches_of_one]

    reader = await open_store(where, clock=clock, migrate=False)
    try:
        rows = await all_rows(reader)
    finally:
        await reader.aclose()
    assert first_break(rows) is None
    total = sum(len(ids) for _, ids in results)  # type: ignore[arg-type]
    assert [r.seq for r in rows] == list(range(1, total + 1))
    by_seq = {r.seq: r.event_id for r in rows}
    for seqs, ids in results:
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # type: ignore[index,arg-type]
        assert [by_seq[s] for s in seqs] == ids  # type: ignore[attr-defined]
    owner = {
        s: p
        for p, done in enumerate(per_process)
        for seqs, _ in done
        for s in seqs  # type: ignore[attr-defined]
    }
    handovers = sum(1 for s in range(2, total + 1) if owner[s] != owner[s - 1])
    assert handovers >= 2, "the two processes did not append side by side"
    return total


STRESS = Path(__file__).resolve().parents[2] / "bench" / "pg_stress.py"


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_two_processes_appending_for_a_minute_lose_nothing(
    durable: Where, clock: FixedClock
) -> None:
    """The long run: bench/pg_stress.py, 60 s of two processes appending; then the log is
    read back here as well."""
    target = durable.url if isinstance(durable, PgUrl) else str(durable)
    command = [sys.executable, str(STRESS), "--db", target, "--seconds", "60"]
    done = await anyio.run_process(command, check=False)
    out = done.stdout.decode()
    assert done.returncode == 0, out + done.stderr.decode()
    assert "acknowledged events lost: 0" in out
    total = int(out.split("acknowledged events: ", 1)[1].split(",", 1)[0])
    assert total > 1000
    if isinstance(durable, PgUrl):  # the bench keeps its log in a schema of its own
        durable = PgUrl(f"{durable.url}&options=-csearch_path%3Dstress")
    reader = await open_store(durable, clock=clock, migrate=False)
    try:
        rows = await all_rows(reader)
    finally:
        await reader.aclose()
    assert [r.seq for r in rows] == list(range(1, total + 1))
    assert first_break(rows) is None


# --- replay folds only what verifies ------------------------------------------------------------


async def test_bulk_replay_stops_at_an_altered_event(store: Store, where: Where) -> None:
    """`iter_recorded` verifies every row against the chain before it yields its event: an
    event altered behind the store's back is never handed to the fold."""
    await store.append(mixed_events(30))
    assert [r.seq for r in store.iter_recorded()] == list(range(1, 31))
    if isinstance(store, InMemoryEventStore):
        row = list(store.iter_rows())[11]
        store.tamper(12, msgspec.structs.replace(row, occurred_at=row.occurred_at + 1))
    else:
        db_exec(where, "UPDATE events SET occurred_at = occurred_at + 1 WHERE seq = 12")
    folded: list[int] = []
    with pytest.raises(ChainBrokenError) as raised:
        for recorded in store.iter_recorded():
            folded.append(recorded.seq)
    assert raised.value.seq == 12
    assert folded == list(range(1, 12))
    assert [r.seq for r in store.iter_recorded(after=12)] == list(range(13, 31))
