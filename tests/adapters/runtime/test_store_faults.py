"""A chunk store that cannot take files (full, read-only, its folder swapped for a file or
deleted) fails the chunks it is given as transient, with its own reason, uses none of their
attempts, never stops the service, and the chunks are rendered once the store recovers.

A player reports its position every 200 ms meanwhile, as players do: event time moves on and
the failed chunks come due again.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from adapters import bootstrap
from adapters.runtime import jobs, specs
from adapters.runtime.service import Service
from domain.events import ChunkFailed, ChunkFileLost, ChunkKey, PositionReported
from domain.state import State
from domain.tiers import chunk_id
from tests.adapters.runtime.conftest import (
    ConfigMaker,
    add_library,
    key_of,
    logged,
    play,
    until,
)
from tests.support.audio import write_track
from tests.support.mounts import MountRefused, fill, remount, tmpfs

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def position_feed(service: Service, at_ms: int = 1_000) -> AsyncIterator[None]:
    """A player reporting the same position every 200 ms (the playhead stays in chunk 0)."""

    async def feed() -> None:
        while True:
            await service.player.interact(PositionReported(position_ms=at_ms))
            await anyio.sleep(0.2)

    async with anyio.create_task_group() as tg:
        tg.start_soon(feed)
        yield
        tg.cancel_scope.cancel()


@pytest.fixture
def chunk_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs where the service keeps its chunks (a dozen chunks of the test tracks)."""
    try:
        with tmpfs(tmp_path / "chunks", size_kib=8 * 1024) as disk:
            yield disk
    except MountRefused as e:
        pytest.skip(f"a tmpfs cannot be mounted here: {e}")


def store_failed(key: ChunkKey, reason: str, waits: int = 1) -> object:
    def check(state: State) -> bool:
        failure = state.cache.failures.get(chunk_id(key))
        return failure is not None and failure.reason == reason and failure.waits >= waits

    return check


async def check_failed_then_rendered(service: Service, key: ChunkKey, reason: str) -> None:
    state = await until(service, store_failed(key, reason))  # type: ignore[arg-type]
    assert state.cache.failures[chunk_id(key)].attempts == 0
    health = service.player.runtime().chunk_store
    assert (health.status, health.reason) == ("failing", reason)
    assert str(service.config.cache_dir) not in health.detail


async def test_a_read_only_chunk_store_fails_renders_as_transient_and_they_resume(
    make_config: ConfigMaker, chunk_disk: Path
) -> None:
    async with bootstrap.service(make_config(workers=2)) as service:
        track = (await add_library(service))["a.flac"]
        remount(chunk_disk, read_only=True)
        try:
            state = await play(service, track)
            first = key_of(state, track, 0)
            async with position_feed(service):
                await check_failed_then_rendered(service, first, "store_read_only")
                await until(service, store_failed(first, "store_read_only", waits=2))  # type: ignore[arg-type]
        finally:
            remount(chunk_disk, read_only=False)
        async with position_feed(service):
            await until(service, lambda s: chunk_id(first) in s.cache.held)
        assert service.player.runtime().chunk_store.status == "ok"
        reasons = {e.reason for e in await logged(service, ChunkFailed)}
        assert "crashed" not in reasons and "store_read_only" in reasons


async def test_a_full_chunk_disk_fails_renders_as_no_space_until_there_is_room(
    make_config: ConfigMaker, chunk_disk: Path
) -> None:
    async with bootstrap.service(make_config(workers=1)) as service:
        track = (await add_library(service))["a.flac"]
        filler = fill(chunk_disk, leave_kib=16)
        state = await play(service, track)
        first = key_of(state, track, 0)
        async with position_feed(service):
            await check_failed_then_rendered(service, first, "no_space")
            filler.unlink()
            await until(service, lambda s: chunk_id(first) in s.cache.held)
        reasons = {e.reason for e in await logged(service, ChunkFailed)}
        assert "crashed" not in reasons


async def test_a_chunk_folder_swapped_for_a_file_then_deleted_never_stops_the_service(
    make_config: ConfigMaker, tmp_path: Path
) -> None:
    config = make_config(workers=1)
    root = config.cache_dir
    async with bootstrap.service(config) as service:
        track = (await add_library(service))["a.flac"]
        state = await play(service, track)
        first, gentle = key_of(state, track, 0), key_of(state, track, 0, "gentle")
        await until(service, lambda s: chunk_id(first) in s.cache.held)
        shutil.move(root, tmp_path / "away")
        root.write_bytes(b"a file where the chunk folder was")
        async with position_feed(service):
            asked = await service.player.chunk_by_key(gentle, wait_s=0)
            assert asked.data is None
            await check_failed_then_rendered(service, gentle, "store_missing")
            root.unlink()
            shutil.move(tmp_path / "away", root)
            await until(service, lambda s: chunk_id(gentle) in s.cache.held)
            # deleted: the next render makes it again; a chunk that was in it is found gone
            shutil.rmtree(root)
            result = await service.player.chunk(0, wait_s=0)
            assert result.data is None and "unusable" in result.detail
            assert str(root) not in result.detail
            served = await service.player.chunk(0, wait_s=30)
            assert served.status == "rendered" and served.data is not None
        lost = await logged(service, ChunkFileLost)
        assert [e.key for e in lost] == [first]
        assert all(str(tmp_path) not in e.detail for e in lost)


def test_the_worker_returns_a_store_fault_instead_of_raising(tmp_path: Path) -> None:
    source = write_track(tmp_path / "a.flac", 40.0, seed=1)
    cache = tmp_path / "chunks"
    cache.write_bytes(b"not a folder")
    key = ChunkKey("a", 0, "warm", 5, 0)
    spec = specs.RenderSpec(str(source), key, None, None, str(cache), 30.0, name="a.flac")
    *_, outcome = jobs.render(spec)
    assert isinstance(outcome, ChunkFailed)
    assert outcome.reason == "store_missing"
    assert str(tmp_path) not in outcome.detail
