"""Snapshots: newest snapshot + tail equals a full replay, and they are written when due."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.bootstrap import SNAPSHOTS_KEPT, open_log, snapshot_if_due
from adapters.cli import main
from domain.projection import fold
from domain.state import State, state_hash
from storage.memory_store import InMemoryEventStore
from storage.projector import load_state, replay, verify
from storage.snapshots import InMemorySnapshotStore, SnapshotStore
from storage.sqlite_store import SqliteEventStore
from tests.support.clock import FixedClock
from tests.support.events import mixed_events, session_lines, sqlite_rows, write_session

Stores = tuple[InMemoryEventStore | SqliteEventStore, SnapshotStore]


@pytest.fixture
async def stores(store_kind: str, db_path: Path, clock: FixedClock) -> AsyncIterator[Stores]:
    """An event store holding 400 mixed events, with an empty snapshot store beside it."""
    if store_kind == "memory":
        events = InMemoryEventStore(clock=clock)
        await events.append(mixed_events(400, seed=11))
        yield events, InMemorySnapshotStore()
        return
    async with open_log(db_path, clock=clock, create=True, migrate=True) as log:
        await log.events.append(mixed_events(400, seed=11))
        yield log.events, log.snapshots


def state_after(events: InMemoryEventStore | SqliteEventStore, seq: int) -> State:
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
    async with open_log(db_path, clock=clock, create=True, migrate=True) as log:

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


def _state_hash(out: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith("state-hash: ")]
    return line.removeprefix("state-hash: ")


def test_cli_ingest_writes_snapshots_and_state_agrees_with_replay(
    tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_session(tmp_path / "first.jsonl", session_lines(25))
    second = write_session(tmp_path / "second.jsonl", session_lines(12))
    db = str(db_path)

    assert main(["--db", db, "ingest", "--snapshot-every", "10", str(first)]) == 0
    assert "snapshot written at sequence 25" in capsys.readouterr().out
    assert main(["--db", db, "ingest", "--snapshot-every", "10", str(second)]) == 0
    assert "snapshot written at sequence 37" in capsys.readouterr().out
    assert sqlite_rows(db_path, "SELECT seq FROM snapshots ORDER BY seq") == [(25,), (37,)]

    assert main(["--db", db, "state"]) == 0
    state_out = capsys.readouterr().out
    assert "warning" not in state_out
    assert main(["--db", db, "replay"]) == 0
    replay_out = capsys.readouterr().out
    assert "replayed 37 events" in replay_out
    assert _state_hash(state_out) == _state_hash(replay_out)
    assert main(["--db", db, "verify"]) == 0
    assert _state_hash(capsys.readouterr().out) == _state_hash(replay_out)


def test_cli_ingest_without_snapshots(
    tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(tmp_path / "s.jsonl", session_lines(30))
    assert main(["--db", str(db_path), "ingest", "--snapshot-every", "0", str(session)]) == 0
    assert "snapshot" not in capsys.readouterr().out
    assert sqlite_rows(db_path, "SELECT COUNT(*) FROM snapshots") == [(0,)]
    # The default interval is far above 30 events.
    other = write_session(tmp_path / "t.jsonl", session_lines(31))
    assert main(["--db", str(db_path), "ingest", str(other)]) == 0
    assert sqlite_rows(db_path, "SELECT COUNT(*) FROM snapshots") == [(0,)]
