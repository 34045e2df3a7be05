"""The long fault runs (slow: `bench/faults.py` runs them and prints their tallies): each fault of
issue 12 injected again and again into a service under a player's load, with nothing
acknowledged lost, no answer that is not JSON, and the service recovering by itself each time."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import msgspec
import pytest

from adapters import bootstrap
from adapters.audit.explain import explain_chunk
from adapters.http.config import HttpConfig
from adapters.runtime.service import Service, ServiceConfig
from domain.state import State
from domain.tiers import chunk_id
from tests.adapters.runtime.conftest import DEADLINE_S, ConfigMaker, add_library, key_of, play
from tests.adapters.runtime.fault_runs import Load, Tally, loaded, settle, until_writable
from tests.support.mounts import MountRefused, fill, remount, tmpfs

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(900)]

CYCLES = 6
Mend = Callable[[], object]
HOSTILE_REQUESTS = 300
#: Posts of the player acknowledged after each fault, before the next.
ACKED_BETWEEN = 20


@asynccontextmanager
async def serving(config: ServiceConfig) -> AsyncIterator[tuple[Service, Load, str]]:
    """The service with its HTTP API, a track playing, under load."""
    async with bootstrap.service(config, http=HttpConfig(port=0)) as service:
        track = (await add_library(service))["a.flac"]
        await play(service, track)
        async with loaded(service) as load:
            yield service, load, track


async def until_degraded(service: Service, deadline_s: float) -> bool:
    """Whether writes are refused within `deadline_s` (the load's next post finds out)."""
    writes = service.app.writes
    with anyio.move_on_after(deadline_s):
        while writes.writable:
            changed = anyio.Event()
            writes.on_change.append(changed.set)
            try:
                if writes.writable:
                    await changed.wait()
            finally:
                writes.on_change.remove(changed.set)
    return not writes.writable


async def recovered(service: Service, load: Load) -> bool:
    """Whether the log takes writes again, and the player's next posts are acknowledged."""
    return await until_writable(service, DEADLINE_S) and await load.acknowledges(
        ACKED_BETWEEN, DEADLINE_S
    )


async def says(load: Load, part: str, status: str) -> bool:
    """Whether /v1/status answers and reports `part` (log, chunk_store) as `status`."""
    answer = await load.client.get("/v1/status")
    return answer.status_code == 200 and answer.json()[part]["status"] == status


def finish(tally: Tally) -> None:
    tally.report()
    assert tally.survived == tally.injected, tally.notes
    assert tally.lost == 0 and tally.unexpected == 0, tally.notes


async def test_the_write_lock_held_elsewhere_again_and_again(make_config: ConfigMaker) -> None:
    tally = Tally("log: write lock held past the busy timeout")
    config = msgspec.structs.replace(make_config(workers=1), busy_timeout_s=0.3)

    async def hold_the_lock() -> Mend:
        other = sqlite3.connect(config.db, isolation_level=None, check_same_thread=False)
        try:
            await anyio.to_thread.run_sync(other.execute, "BEGIN IMMEDIATE")
        except BaseException:
            other.close()
            raise

        def release() -> None:
            other.execute("ROLLBACK")
            other.close()

        return release

    async with serving(config) as (service, load, _):
        await _log_cycles(service, load, tally, hold_the_lock)
        await settle(service, load, tally)
    finish(tally)


def _disk(where: Path, size_kib: int) -> Iterator[Path]:
    try:
        with tmpfs(where, size_kib=size_kib) as disk:
            yield disk
    except MountRefused as e:
        pytest.skip(f"a tmpfs cannot be mounted here: {e}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """6 MiB for the database: filled, it is full within a few appends."""
    yield from _disk(tmp_path / "disk", 6 * 1024)


@pytest.fixture
def chunk_disk(tmp_path: Path) -> Iterator[Path]:
    """64 MiB for the chunk store: room for every chunk the runs render (the tier budgets are
    larger than that: a disk the cache itself fills is another matter, see the README)."""
    yield from _disk(tmp_path / "chunkdisk", 64 * 1024)


async def test_the_database_disk_filled_again_and_again(
    make_config: ConfigMaker, small_disk: Path
) -> None:
    tally = Tally("log: its disk full")
    config = msgspec.structs.replace(make_config(workers=1), db=small_disk / "tierbuffer.db")

    async def fill_the_disk() -> Mend:
        return fill(small_disk).unlink

    async with serving(config) as (service, load, _):
        await _log_cycles(service, load, tally, fill_the_disk)
        await settle(service, load, tally)
    finish(tally)


async def _log_cycles(
    service: Service, load: Load, tally: Tally, break_log: Callable[[], Awaitable[Mend]]
) -> None:
    """Each cycle: break the log, wait for the service to say it is degraded, mend the log,
    wait for it to write again by itself."""
    for _ in range(CYCLES):
        tally.injected += 1
        mend = await break_log()
        try:
            degraded = await until_degraded(service, DEADLINE_S)
            reported = await says(load, "log", "degraded")
        finally:
            mend()
        if degraded and reported and await recovered(service, load):
            tally.survived += 1
        else:
            tally.notes.append(f"cycle {tally.injected}: {degraded=} {reported=}")


async def _chunk_store_cycles(
    service: Service,
    load: Load,
    track: str,
    tally: Tally,
    reason: str,
    break_store: Callable[[], Mend],
) -> None:
    """Each cycle: break the store, change the intensity (new chunks to render), wait for the
    playing chunk to fail with `reason` (no attempt used), mend the store, wait for it to land."""
    for cycle in range(CYCLES):
        tally.injected += 1
        mend = break_store()
        try:
            body = {"type": "IntensityChanged", "intensity": (cycle % 10 + 1) / 10}
            changed = await load.post(body)
            assert changed is not None and changed.status_code == 200, changed
            state = await service.app.until_seq(changed.json()["seq"])
            key = key_of(state, track, 0)
            ident = chunk_id(key)

            with anyio.move_on_after(DEADLINE_S):
                await service.app.until(_failed_with(ident, reason))
            state = service.app.state
            failure = state.cache.failures.get(ident)
            faulted = failure is not None and failure.reason == reason and failure.attempts == 0
            reported = await says(load, "chunk_store", "failing")
        finally:
            mend()
        with anyio.move_on_after(DEADLINE_S):
            await service.app.until(_held(ident))
        landed = ident in service.app.state.cache.held
        if faulted and reported and landed and await load.acknowledges(ACKED_BETWEEN, DEADLINE_S):
            tally.survived += 1
        else:
            explained = await explain_chunk(service.app.log, key)
            told = [f"{s.seq} {s.type}: {'; '.join(s.changes)}" for s in explained.steps[-6:]]
            tally.notes.append(f"cycle {cycle + 1}: {faulted=} {reported=}; {told}")


def _failed_with(ident: str, reason: str) -> Callable[[State], bool]:
    def check(state: State) -> bool:
        failure = state.cache.failures.get(ident)
        return failure is not None and failure.reason == reason

    return check


def _held(ident: str) -> Callable[[State], bool]:
    return lambda state: ident in state.cache.held


async def test_the_chunk_store_read_only_again_and_again(
    make_config: ConfigMaker, chunk_disk: Path
) -> None:
    tally = Tally("chunk store: read-only")
    config = msgspec.structs.replace(make_config(workers=1), cache_dir=chunk_disk / "chunks")

    def read_only() -> Mend:
        remount(chunk_disk, read_only=True)
        return lambda: remount(chunk_disk, read_only=False)

    async with serving(config) as (service, load, track):
        await _chunk_store_cycles(service, load, track, tally, "store_read_only", read_only)
        await settle(service, load, tally)
    finish(tally)


async def test_the_chunk_disk_filled_again_and_again(
    make_config: ConfigMaker, chunk_disk: Path
) -> None:
    tally = Tally("chunk store: its disk full")
    config = msgspec.structs.replace(make_config(workers=1), cache_dir=chunk_disk / "chunks")

    def full() -> Mend:
        filler = fill(chunk_disk, leave_kib=16)
        return filler.unlink

    async with serving(config) as (service, load, track):
        await _chunk_store_cycles(service, load, track, tally, "no_space", full)
        await settle(service, load, tally)
    finish(tally)


async def test_clients_with_broken_clocks_never_freeze_the_playhead(
    make_config: ConfigMaker,
) -> None:
    tally = Tally("event time: occurred-at in year 9999 or an hour behind")
    async with serving(make_config(workers=1)) as (service, load, _):
        for cycle in range(CYCLES):
            tally.injected += 1
            wrong = 253_402_300_799_000 if cycle % 2 == 0 else int(time.time() * 1000) - 3_600_000
            skewed = await load.post({"type": "Seeked", "position_ms": 5_000, "at": wrong})
            await anyio.sleep(0.15)  # past the position throttle, in the store's time
            target = 20_000 + 1_000 * cycle
            applied = await load.post({"type": "Seeked", "position_ms": target})
            ok = skewed is not None and applied is not None and applied.status_code == 200
            if ok:
                assert applied is not None
                state = await service.app.until_seq(applied.json()["seq"])
                moved = state.playback.position_ms == target
                if moved:
                    tally.survived += 1
                else:
                    tally.notes.append(f"cycle {cycle + 1}: at {state.playback.position_ms}")
        load.position_ms = 25_000
        await settle(service, load, tally)
    finish(tally)


def _hostile(n: int) -> bytes:
    bodies = [
        b"[" * 30_000 + b"]" * 30_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        b'{"type":"PositionReported","position_ms":' + str(10**30).encode() + b"}",
        b'{"type":"Seeked","position_ms":' + str(2**63).encode() + b"}",
        b'{"type":"TrackChanged","track":"a\\u001b[2Jb"}',
        b'{"type":"Paused","at":"1960-01-01T00:00:00Z"}',
        b"\xff\xfe not json",
        b'{"type":"ChunkRendered"}',
    ]
    return bodies[n % len(bodies)]


async def test_a_flood_of_hostile_requests_gets_json_errors_only(
    make_config: ConfigMaker,
) -> None:
    tally = Tally("hostile requests (nesting, integers, control characters, garbage)")
    async with serving(make_config(workers=1)) as (service, load, _):
        for n in range(HOSTILE_REQUESTS):
            tally.injected += 1
            answer = await load.client.post("/v1/interactions", content=_hostile(n))
            if 400 <= answer.status_code < 500 and "error" in answer.json():
                tally.survived += 1
            else:
                tally.notes.append(f"request {n}: {answer.status_code} {answer.text[:100]}")
        await settle(service, load, tally)
    finish(tally)
