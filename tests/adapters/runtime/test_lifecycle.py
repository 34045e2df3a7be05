"""A track's file deleted or rewritten while the service renders it: lifecycle events, not crashes.

The library watcher is off, so it is the scheduler's check before each render that notices.
"""

from __future__ import annotations

import pytest

from adapters import bootstrap
from adapters.audio.render import decode_flac
from domain.events import ChunkRenderStarted, TrackDeleted, TrackModified
from domain.tiers import chunk_id
from tests.adapters.runtime import faults
from tests.adapters.runtime.conftest import (
    RATE,
    ConfigMaker,
    add_library,
    all_held,
    files_of,
    held_ids,
    key_of,
    logged,
    play,
    renders_settled,
    until,
    until_logged,
    write_track,
)

pytestmark = pytest.mark.anyio


def some_held_and_more_in_flight(track: str):  # type: ignore[no-untyped-def]
    return lambda s: (
        len(held_ids(s, track)) >= 1
        and any(f.key.track == track for f in s.cache.inflight.values())
    )


async def test_a_file_deleted_mid_render_becomes_track_deleted(make_config: ConfigMaker) -> None:
    config = make_config(workers=1)  # one render after the other: one held, the next running
    async with bootstrap.service(config, render=faults.SLOW) as service:
        tracks = await add_library(service)
        track = tracks["a.flac"]
        await play(service, track)
        await until(service, some_held_and_more_in_flight(track))
        assert files_of(service, track)

        (config.library / "a.flac").unlink()
        state = await until(service, lambda s: track not in s.tracks)
        assert TrackDeleted(track=track) in await logged(service, TrackDeleted)
        assert not held_ids(state, track)
        assert not any(w.key.track == track for w in state.cache.wanted.values())
        assert not any(f.key.track == track for f in state.cache.inflight.values())
        assert state.playback.track is None and state.playback.status == "stopped"
        await until_logged(service, renders_settled(track))
        assert not files_of(service, track), "chunk files of a deleted track are left"

        # The service carries on with the rest of the library.
        other = tracks["b.wav"]
        state = await play(service, other)
        await until(service, all_held([chunk_id(key_of(state, other, 0))]))


async def test_a_file_deleted_before_its_render_is_never_rendered(
    make_config: ConfigMaker,
) -> None:
    config = make_config(workers=2)
    async with bootstrap.service(config) as service:
        track = (await add_library(service))["b.wav"]
        (config.library / "b.wav").unlink()
        await play(service, track)
        await until(service, lambda s: track not in s.tracks)
        deleted = await logged(service, TrackDeleted)
        assert deleted and all(e == TrackDeleted(track=track) for e in deleted)
        started = [e.key.track for e in await logged(service, ChunkRenderStarted)]
        assert track not in started
        assert not files_of(service, track)


async def test_a_file_rewritten_on_disk_is_re_rendered_at_its_new_revision(
    make_config: ConfigMaker,
) -> None:
    config = make_config(workers=1)
    async with bootstrap.service(config, render=faults.SLOW) as service:
        track = (await add_library(service))["a.flac"]
        await play(service, track)
        await until(service, some_held_and_more_in_flight(track))
        old = {service.app.state.cache.held[i].path for i in held_ids(service.app.state, track)}

        write_track(config.library / "a.flac", 40.0, seed=7)  # new content, two chunks
        state = await until(service, lambda s: s.tracks[track].revision == 1)
        # Renders may notice it more than once; the fold ignores a repeat (same fingerprint).
        modified, *repeats = await logged(service, TrackModified)
        assert modified.track == track and modified.duration_ms == 40_000
        assert all(r == modified for r in repeats)
        assert all(s.key.revision == 1 for s in state.cache.held.values())
        fresh = [chunk_id(key_of(state, track, 0)), chunk_id(key_of(state, track, 1))]
        await until(service, all_held(fresh))

        result = await service.player.chunk(1, wait_s=30)
        assert result.status in ("hit", "rendered") and result.key is not None
        assert result.key.revision == 1 and result.data is not None
        assert decode_flac(result.data)[0].shape[0] == 10 * RATE  # 40 s: the second chunk is 10 s
        await until_logged(service, renders_settled(track, revision=0))
        assert not old & files_of(service, track), "chunk files of the old revision are left"
        assert all("/r1/" in f for f in files_of(service, track))
        assert service.app.state.tracks[track].revision == 1
