"""The chunk the player waits on: taken from a running job without starting a process; a failed
one answered at once and not tried again before its back-off; the playing track analysed first;
known tracks served while the library is still being scanned."""

from __future__ import annotations

import time

import anyio
import pytest

from adapters import bootstrap
from domain.events import ChunkFailed, ChunkRenderStarted, TrackAnalysed
from domain.plan import RETRY_BASE_MS
from domain.tiers import chunk_id
from tests.adapters.runtime import faults
from tests.adapters.runtime.conftest import (
    ConfigMaker,
    add_library,
    key_of,
    logged,
    play,
    until,
    write_track,
)
from tests.support.audio import write_audio

pytestmark = pytest.mark.anyio


async def test_the_waited_chunk_takes_a_running_jobs_worker_without_a_process_start(
    make_config: ConfigMaker,
) -> None:
    write_track(make_config().library / "long.flac", 300.0, seed=2)
    async with bootstrap.service(make_config(workers=1), render=faults.STALL) as service:
        track = (await add_library(service))["long.flac"]
        state = await play(service, track)
        first = key_of(state, track, 0)
        await until(service, lambda s: chunk_id(first) in s.cache.inflight)
        pids, started = service.scheduler.pool.pids, service.scheduler.pool.started

        result = await service.player.chunk(6, wait_s=40)
        assert result.status == "rendered" and result.key == key_of(state, track, 6)
        (failed,) = [f for f in await logged(service, ChunkFailed) if f.key == first]
        assert failed.reason == "cancelled" and "pre-empted" in failed.detail
        assert service.scheduler.pool.pids == pids  # the same process rendered chunk 6
        assert service.scheduler.pool.started == started == 1
        assert service.scheduler.outcomes.preempted >= 1


async def test_a_failed_chunk_is_answered_at_once_and_not_tried_again_before_its_back_off(
    make_config: ConfigMaker,
) -> None:
    async with bootstrap.service(make_config(workers=2), render=faults.RAISE) as service:
        track = (await add_library(service))["a.flac"]
        state = await play(service, track)
        broken = key_of(state, track, 0)  # the fault fails chunk 0 at the default preset
        began = time.perf_counter()
        result = await service.player.chunk(0, wait_s=25)
        assert time.perf_counter() - began < 20  # answered when it failed, not at the deadline
        assert result.status == "failed" and "crashed" in result.detail
        assert result.retry_after_ms is not None and 0 < result.retry_after_ms <= RETRY_BASE_MS

        again = await service.player.chunk(0, wait_s=25)  # asked again at once
        assert again.status == "failed" and again.waited_ms < 5_000
        assert again.retry_after_ms is not None and again.retry_after_ms <= result.retry_after_ms
        starts = [e for e in await logged(service, ChunkRenderStarted) if e.key == broken]
        assert len(starts) == 1, "a failed chunk was started again inside its back-off"


async def test_the_playing_track_is_analysed_before_the_rest_of_the_library(
    make_config: ConfigMaker,
) -> None:
    library = make_config().library
    for n in range(4):
        write_track(library / f"z{n}.wav", 35.0, seed=n + 3)  # after a.flac and b.wav by path
    async with bootstrap.service(make_config(workers=2)) as service:
        tracks = await add_library(service)
        playing = tracks["z3.wav"]
        await play(service, playing)
        await until(service, lambda s: all(t.analysis is not None for t in s.tracks.values()))
        order = [e.track for e in await logged(service, TrackAnalysed)]
        assert order[0] == playing
        assert sorted(order) == sorted(tracks.values())


async def test_known_tracks_play_while_the_library_is_still_being_scanned(
    make_config: ConfigMaker,
) -> None:
    config = make_config(workers=2, watch_library=True)
    async with bootstrap.service(config) as service:
        state = await service.scanned()
        known = {t.path: name for name, t in state.tracks.items()}["a.flac"]
    for n in range(400):  # files added while it was down: the next start rescans them all
        write_audio(config.library / "more" / f"{n:03d}.wav", seconds=0.5, seed=n)
    async with bootstrap.service(config) as service:
        assert service.watcher is not None
        assert not service.watcher.scanned.is_set()  # it serves before the scan ends
        await play(service, known)
        result = await service.player.chunk(0, wait_s=40)
        assert result.status in ("hit", "rendered")
        state = await service.scanned()
        assert len(state.tracks) == 402


async def test_a_wait_left_behind_by_a_newer_request_is_answered_at_once_saying_so(
    make_config: ConfigMaker,
) -> None:
    write_track(make_config().library / "long.flac", 300.0, seed=2)
    async with bootstrap.service(make_config(workers=1), render=faults.SLOW) as service:
        track = (await add_library(service))["long.flac"]
        await play(service, track)
        results = []
        async with anyio.create_task_group() as tg:

            async def wait_for_six() -> None:
                results.append(await service.player.chunk(6, wait_s=40))

            tg.start_soon(wait_for_six)
            await until(
                service, lambda s: s.cache.requested is not None and s.cache.requested.index == 6
            )
            began = time.perf_counter()
            await service.player.chunk(7, wait_s=0)  # the player moved on
        (left,) = results
        assert time.perf_counter() - began < 20  # not at its deadline
        assert left.status == "pending" and "another chunk was asked for" in left.detail
