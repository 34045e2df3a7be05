"""The player's one entrance, on the in-memory log and a fixed clock (no SQLite, no workers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from adapters.runtime.app import Application
from adapters.runtime.player import Player
from adapters.runtime.status import Outcomes, RuntimeStatus
from domain.events import ChunkKey, PresetChanged, TrackChanged
from domain.state import State
from storage.chunks import FileChunkStore
from storage.log import Log
from storage.memory_store import InMemoryEventStore
from storage.snapshots import InMemorySnapshotStore
from tests.support.clock import FixedClock
from tests.support.events import new_event, new_id, track_added

pytestmark = pytest.mark.anyio


@pytest.fixture
async def player(tmp_path: Path) -> AsyncIterator[Player]:
    clock = FixedClock()
    log = Log(InMemoryEventStore(clock=clock), InMemorySnapshotStore())
    await log.events.append([new_event(track_added("t1"))])
    app = Application(log, State(), clock=clock, new_id=new_id, snapshot_every=0)
    await app.catch_up()
    idle = RuntimeStatus(0, [], [], Outcomes(), watcher="off", watcher_detail="")
    async with anyio.create_task_group() as tg:
        await tg.start(app.follow)
        yield Player(app, FileChunkStore(tmp_path / "chunks"), lambda: idle)
        tg.cancel_scope.cancel()


async def test_an_interaction_is_folded_at_the_clock_time_unless_the_player_says_when(
    player: Player,
) -> None:
    seq = await player.interact(TrackChanged(track="t1"))
    state = await player.app.until_seq(seq)
    assert state.playback.track == "t1" and state.clock_ms == player.now()
    later = await player.interact(PresetChanged(preset="warm"), occurred_at=player.now() + 5_000)
    assert (await player.app.until_seq(later)).clock_ms == player.now() + 5_000


async def test_a_retried_interaction_is_appended_once(player: Player) -> None:
    event_id = new_id()
    first = await player.interact(PresetChanged(preset="bright"), event_id=event_id)
    again = await player.interact(PresetChanged(preset="bright"), event_id=event_id)
    assert first == again
    rows = [row async for row in player.rows(types={"PresetChanged"})]
    assert [row.event_id for row in rows] == [event_id]


async def test_a_chunk_of_an_unknown_track_is_unavailable_and_nothing_is_logged(
    player: Player,
) -> None:
    before = player.state.seq
    result = await player.chunk_by_key(ChunkKey("nope", 0, "warm", 5, 0), wait_s=0.1)
    assert result.status == "unavailable"
    assert player.state.seq == before
    assert (await player.chunk(0, wait_s=0.1)).status == "unavailable"  # nothing playing


async def test_changed_wakes_a_reader_when_the_state_moves_on(player: Player) -> None:
    seq = player.state.seq
    async with anyio.create_task_group() as tg:
        tg.start_soon(player.interact, TrackChanged(track="t1"))
        with anyio.fail_after(5):
            state = await player.changed(seq)
    assert state.seq > seq
