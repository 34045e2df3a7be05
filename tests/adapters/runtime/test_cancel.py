"""The plan moves on while renders are in flight: obsolete jobs are cancelled, new ones rendered.

The first two chunks' renders stall (`faults.stall_render`), so they are surely still running
when the listener seeks, switches preset or asks for another chunk; the others render at once.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from adapters import bootstrap
from adapters.runtime.service import Service
from domain.events import (
    BudgetsSet,
    ChunkFailed,
    ChunkKey,
    ChunkRendered,
    PresetChanged,
    Seeked,
)
from domain.state import State
from domain.tiers import chunk_id
from storage.chunks import chunk_path
from tests.adapters.runtime import faults
from tests.adapters.runtime.conftest import (
    ConfigMaker,
    add_library,
    all_held,
    chunk_files,
    key_of,
    logged,
    play,
    until,
    write_track,
)

pytestmark = pytest.mark.anyio


def rendering(*keys: ChunkKey) -> Callable[[State], bool]:
    """Each key is in flight and its track's level measured: the render itself is running."""
    return lambda s: all(
        chunk_id(k) in s.cache.inflight and s.tracks[k.track].level is not None for k in keys
    )


async def cancelled_and_rendered(
    service: Service, obsolete: list[ChunkKey], needed: int | None = None
) -> None:
    """The obsolete renders were cancelled (at least `needed` of them: as many as the new
    plan's jobs needed workers), none ran to its end, and no file of theirs is left."""
    failed = await logged(service, ChunkFailed)
    cancelled = {f.key for f in failed if f.reason == "cancelled" and f.key in obsolete}
    assert len(cancelled) >= (len(obsolete) if needed is None else needed)
    assert all("no longer wants" in f.detail for f in failed if f.key in obsolete)
    rendered = {event.key for event in await logged(service, ChunkRendered)}
    assert not rendered & set(obsolete), "an obsolete render ran to its end"
    assert not {chunk_path(k) for k in obsolete} & chunk_files(service)


async def test_a_seek_cancels_the_renders_behind_it(make_config: ConfigMaker) -> None:
    write_track(make_config().library / "long.flac", 300.0, seed=2)  # ten chunks
    async with bootstrap.service(make_config(workers=2), render=faults.STALL) as service:
        track = (await add_library(service))["long.flac"]
        state = await play(service, track)
        obsolete = [j.key for j in state.cache.plan if j.key.preset == "adaptive"][:2]
        assert key_of(state, track, 0) in obsolete and all(k.index < 2 for k in obsolete)
        await until(service, rendering(*obsolete))

        seq = await service.player.interact(Seeked(position_ms=240_000))
        state = await service.app.until_seq(seq)
        assert not {chunk_id(k) for k in obsolete} & set(state.cache.wanted)
        landed = [job.key for job in state.cache.plan]
        assert key_of(state, track, 8) in landed
        await until(service, all_held([chunk_id(k) for k in landed]))
        await cancelled_and_rendered(service, obsolete, min(len(obsolete), len(landed)))


async def test_a_preset_switch_cancels_the_old_presets_renders(make_config: ConfigMaker) -> None:
    async with bootstrap.service(make_config(workers=2), render=faults.STALL) as service:
        track = (await add_library(service))["a.flac"]
        # L1 holds two chunks (~0.6 MB each) and the other tiers nothing: the plan is chunks 0
        # and 1 of the current preset only, so a switch leaves nothing of the old plan wanted.
        await service.app.record(BudgetsSet(l1_bytes=1_500_000, l2_bytes=0, l3_bytes=0))
        state = await play(service, track)
        obsolete = [job.key for job in state.cache.plan]
        assert key_of(state, track, 0) in obsolete
        assert all(k.preset == "adaptive" and k.index < 2 for k in obsolete)
        await until(service, rendering(*obsolete))

        seq = await service.player.interact(PresetChanged(preset="punchy"))
        state = await service.app.until_seq(seq)
        landed = [job.key for job in state.cache.plan]
        assert key_of(state, track, 0, "punchy") in landed
        assert all(k.preset == "punchy" or k not in obsolete for k in landed)
        await until(service, all_held([chunk_id(k) for k in landed]))
        await cancelled_and_rendered(service, obsolete)


async def test_the_chunk_the_player_waits_on_preempts_a_running_job(
    make_config: ConfigMaker,
) -> None:
    write_track(make_config().library / "long.flac", 300.0, seed=2)
    async with bootstrap.service(make_config(workers=1), render=faults.STALL) as service:
        track = (await add_library(service))["long.flac"]
        state = await play(service, track)
        first = key_of(state, track, 0)
        await until(service, rendering(first))

        result = await service.player.chunk(6, wait_s=40)
        assert result.status == "rendered" and result.key == key_of(state, track, 6)
        (failed,) = [f for f in await logged(service, ChunkFailed) if f.key == first]
        assert failed.reason == "cancelled" and "pre-empted" in failed.detail
        # The pre-empted chunk is still wanted: it is planned (and started) again.
        await until(
            service,
            lambda s: chunk_id(first) in s.cache.inflight or first in [j.key for j in s.cache.plan],
        )
