"""A track change makes the planned chunks appear on disk as the log says; the player gets them."""

from __future__ import annotations

import pytest

from adapters import bootstrap
from adapters.audio.render import decode_flac
from domain.events import ChunkRendered, TrackLevelled
from domain.tiers import chunk_id
from tests.adapters.runtime.conftest import (
    RATE,
    ConfigMaker,
    add_library,
    chunk_files,
    idle,
    logged,
    play,
    sha256_checksum,
    until,
)

pytestmark = pytest.mark.anyio


async def test_planned_chunks_are_rendered_to_disk_as_recorded(make_config: ConfigMaker) -> None:
    async with bootstrap.service(make_config(workers=2)) as service:
        tracks = await add_library(service)
        track = tracks["a.flac"]
        state = await play(service, track)
        planned = {chunk_id(job.key) for job in state.cache.plan}
        assert len(planned) >= 2 and all(job.key.track == track for job in state.cache.plan)
        # The plan moves on with the playhead (on a slow machine, before all of it is made):
        # wait until the service has done what its plan asks, whatever the plan is by then.
        playing = chunk_id(state.cache.plan[0].key)  # the playhead's chunk comes first
        state = await until(service, lambda s: idle(s) and len(s.cache.held) >= 2)
        assert playing in state.cache.held

        rendered = await logged(service, ChunkRendered)
        by_path = {event.path: event for event in rendered}
        assert {chunk_id(event.key) for event in rendered} >= set(state.cache.held)
        assert len(by_path) == len(rendered), "a chunk was rendered twice"
        for entry in state.cache.held.values():
            event = by_path[entry.path]
            data = (service.chunks.root / entry.path).read_bytes()
            assert len(data) == event.bytes == entry.bytes
            assert sha256_checksum(data) == event.checksum == entry.checksum
        assert chunk_files(service) == {entry.path for entry in state.cache.held.values()}

        first = await service.player.chunk(0, wait_s=30)
        assert first.status in ("hit", "rendered")
        assert first.data is not None and first.key is not None
        assert sha256_checksum(first.data) == first.checksum
        assert first.checksum == state.cache.held[chunk_id(first.key)].checksum
        samples, rate = decode_flac(first.data)
        assert rate == RATE and samples.shape[0] == 30 * RATE

        last = await service.player.chunk(2, wait_s=30)  # 70 s: the last chunk holds 10 s
        assert last.status in ("hit", "rendered") and last.data is not None
        assert decode_flac(last.data)[0].shape[0] == 10 * RATE
        assert (await service.player.chunk(3, wait_s=1)).status == "unavailable"

        # The track's level was measured once, by its first render; every chunk used it.
        kinds = [
            type(r.event)
            async for r in service.app.log.events.read(
                types={"TrackLevelled", "ChunkRendered", "ServiceStarted"}, track=track
            )
        ]
        assert kinds.count(TrackLevelled) == 1
        assert kinds.index(TrackLevelled) < kinds.index(ChunkRendered)
        level = service.app.state.tracks[track].level
        assert level is not None and -40 < level.loudness_db < 0

        # Meanwhile the background analysis measured both tracks, chunk by chunk.
        state = await until(
            service, lambda s: all(t.analysis is not None for t in s.tracks.values())
        )
        for name, known in state.tracks.items():
            assert known.analysis is not None and known.analysis.reason is None
            assert known.duration_ms == known.analysis.frames * 1000 // RATE
            assert sorted(state.analysis[name]) == [
                str(i) for i in range(len(state.analysis[name]))
            ]
        assert len(state.analysis[track]) == 3  # 70 s: three chunks
