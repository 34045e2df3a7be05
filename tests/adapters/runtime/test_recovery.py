"""Start-up recovery: the chunk store is reconciled with the log, renders cut short are released.

Each test runs a service, damages what it leaves behind (or kills it mid-render), starts a second
one on the same database and cache, and checks what the second one made of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import psutil
import pytest

from adapters import bootstrap
from adapters.runtime.recovery import Reconciled
from adapters.runtime.service import Service
from domain.events import (
    ChunkFailed,
    ChunkFileLost,
    ChunkKey,
    Paused,
    ServiceStarted,
)
from domain.projection import fold
from domain.state import Held, State, state_hash
from domain.tiers import chunk_id
from storage.chunks import chunk_path
from storage.projector import load_state, replay
from tests.adapters.runtime import child, faults
from tests.adapters.runtime.conftest import (
    DEADLINE_S,
    ConfigMaker,
    add_library,
    all_held,
    chunk_files,
    idle,
    key_of,
    play,
    sha256_checksum,
    until,
)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[3]


async def since_last_start(service: Service, *types: type) -> list:  # type: ignore[type-arg]
    """Events of `types` recorded since the newest ServiceStarted."""
    names = {t.__name__ for t in types} | {"ServiceStarted"}
    found: list = []  # type: ignore[type-arg]
    async for r in service.app.log.events.read(types=names):
        found = [] if isinstance(r.event, ServiceStarted) else [*found, r.event]
    return found


async def equals_fresh_replay(service: Service) -> State:
    """The live state is what folding the log from scratch up to its sequence number gives."""
    state = await service.app.catch_up()
    events = service.app.log.events

    def fresh() -> State:
        return fold(r for r in events.iter_recorded() if r.seq <= state.seq)

    assert state_hash(await anyio.to_thread.run_sync(fresh)) == state_hash(state)
    return state


def file_ok(service: Service, entry: Held) -> bool:
    path = service.chunks.root / entry.path
    return path.exists() and sha256_checksum(path.read_bytes()) == entry.checksum


async def test_restart_reconciles_the_chunk_store_with_the_log(make_config: ConfigMaker) -> None:
    config = make_config(workers=2)
    async with bootstrap.service(config) as service:
        track = (await add_library(service))["a.flac"]
        state = await play(service, track)
        await service.player.interact(Paused())  # the playhead stays in chunk 0 across restarts
        gentle = await service.player.chunk_by_key(key_of(state, track, 0, "gentle"), wait_s=30)
        assert gentle.status in ("hit", "rendered")
        await service.player.chunk(0, wait_s=30)  # and the player is at chunk 0
        state = await until(service, lambda s: idle(s) and len(s.cache.held) >= 3)
        held = state.cache.held
    playing = ChunkKey(track, 0, "adaptive", 5, 0)
    lost_key, cut_key = ChunkKey(track, 0, "adaptive", 5, 1), ChunkKey(track, 0, "gentle", 5, 0)
    playing_id, lost, cut = chunk_id(playing), chunk_id(lost_key), chunk_id(cut_key)
    assert {playing_id, lost, cut} <= set(held)

    root = config.cache_dir
    orphan = root / chunk_path(ChunkKey(track, 0, "adaptive", 3, 0))  # never rendered
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"fLaC not recorded anywhere")
    partial = (root / held[lost].path).with_name(".adaptive-i5-c1.flac.0123abcd.tmp")
    partial.write_bytes(b"half a chunk")
    (root / held[lost].path).unlink()
    cut_path = root / held[cut].path
    cut_path.write_bytes(cut_path.read_bytes()[: held[cut].bytes // 2])
    damaged = bytearray((root / held[playing_id].path).read_bytes())  # same size, other bytes
    damaged[len(damaged) // 2] ^= 0xFF
    (root / held[playing_id].path).write_bytes(bytes(damaged))

    async with bootstrap.service(config) as service:
        assert service.reconciled == Reconciled(partials=1, orphans=1, lost=2, released=0)
        assert not orphan.exists() and not partial.exists()
        forgotten = await since_last_start(service, ChunkFileLost)
        assert {e.key for e in forgotten} == {lost_key, cut_key}
        state = await equals_fresh_replay(service)
        assert lost not in state.cache.held or file_ok(service, state.cache.held[lost])

        # A file of the right size whose bytes changed is found out when read, never served.
        result = await service.player.chunk(0, wait_s=0)
        assert result.data is None and "unusable" in result.detail
        # Asked for again: made again. Each is waited for: whether the plan would make the next
        # chunk by itself depends on how far into chunk 0 the pause came, which is timing.
        again = await service.player.chunk_by_key(cut_key, wait_s=DEADLINE_S)
        assert again.status == "rendered"
        again = await service.player.chunk_by_key(lost_key, wait_s=DEADLINE_S)
        assert again.status in ("rendered", "hit")
        await service.player.chunk(0, wait_s=0)
        state = await until(service, all_held([playing_id, lost, cut]))
        for ident in (playing_id, lost, cut):
            assert file_ok(service, state.cache.held[ident]), ident
        result = await service.player.chunk(0, wait_s=DEADLINE_S)
        assert result.status == "hit" and result.data is not None
        assert sha256_checksum(result.data) == state.cache.held[playing_id].checksum
        await until(service, idle)
        await equals_fresh_replay(service)
        assert chunk_files(service) == {h.path for h in service.app.state.cache.held.values()}

    async with bootstrap.service(config) as service:  # nothing left to reconcile
        assert service.reconciled == Reconciled(partials=0, orphans=0, lost=0, released=0)
        log = service.app.log
        loaded = await load_state(log.events, log.snapshots)
        assert loaded.snapshot_seq is not None  # the stop wrote one
        assert state_hash(loaded.state) == state_hash(await replay(log.events))


@pytest.mark.timeout(180)
async def test_a_service_killed_mid_render_releases_and_renders_the_chunk_on_restart(
    make_config: ConfigMaker,
) -> None:
    config = make_config(workers=2)
    command = [sys.executable, "-m", "tests.adapters.runtime.child"]
    command += [str(config.db), str(config.library), str(config.cache_dir), "a.flac"]
    with open(config.db.with_name("child.log"), "wb") as errors:  # noqa: ASYNC230 - tiny, once
        async with await anyio.open_process(
            command, cwd=ROOT, stdin=subprocess.DEVNULL, stderr=errors
        ) as process:
            assert process.stdout is not None
            with anyio.fail_after(DEADLINE_S):
                said = b""
                async for data in process.stdout:
                    said += data
                    if b"\n" in said:
                        break
            assert said.decode().strip() == child.READY, config.db.with_name("child.log")
            workers = psutil.Process(process.pid).children(recursive=True)
            os.kill(process.pid, signal.SIGKILL)
            with anyio.fail_after(DEADLINE_S):
                assert await process.wait() == -signal.SIGKILL
    # Its render workers die with it, although they were stuck in a render.
    stuck = [int(p.name.split("-")[1]) for p in faults.pids_dir(config.cache_dir).glob("stuck-*")]
    assert len(stuck) == 2 and set(stuck) <= {w.pid for w in workers}
    _, alive = await anyio.to_thread.run_sync(lambda: psutil.wait_procs(workers, DEADLINE_S))
    assert not alive, "render workers outlived the service"

    async with bootstrap.service(config) as service:
        assert service.reconciled.released == 2
        released = await since_last_start(service, ChunkFailed)
        assert len(released) >= 2
        cut_short = [e.key for e in released[:2]]
        assert all(e.reason == "cancelled" and "in flight" in e.detail for e in released[:2])
        await equals_fresh_replay(service)
        state = await until(service, all_held([chunk_id(k) for k in cut_short]))
        for key in cut_short:
            assert file_ok(service, state.cache.held[chunk_id(key)])
