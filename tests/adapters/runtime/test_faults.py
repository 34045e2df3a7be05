"""Workers that hang or crash: the job is recorded as failed, the process is gone, work goes on."""

from __future__ import annotations

import anyio
import psutil
import pytest

from adapters import bootstrap
from adapters.runtime.service import Service
from domain.events import ChunkFailed, TrackAnalysed
from domain.tiers import chunk_id
from tests.adapters.runtime import faults
from tests.adapters.runtime.conftest import (
    DEADLINE_S,
    ConfigMaker,
    add_library,
    all_held,
    key_of,
    logged,
    play,
    until,
)

pytestmark = pytest.mark.anyio


def fault_pids(service: Service, what: str) -> list[int]:
    """The processes the faulty render ran in: one, or more when a slow machine gave the retry
    of the failed chunk time to run (and fail) again before the test looked."""
    markers = list(faults.pids_dir(service.config.cache_dir).glob(f"{what}-*"))
    assert markers, f"no {what} render ran"
    return [int(marker.name.rsplit("-", 1)[1]) for marker in markers]


def fault_pid(service: Service, what: str) -> int:
    (pid,) = fault_pids(service, what)
    return pid


def gone(pid: int) -> bool:
    """No process with this id exists any more: killed and reaped (a zombie would still count)."""
    try:
        psutil.Process(pid)
    except psutil.NoSuchProcess:
        return True
    return False


async def test_a_hanging_render_is_stopped_at_its_timeout_and_the_next_job_runs(
    make_config: ConfigMaker,
) -> None:
    # One worker: the chunks after the hanging one can only render once its process is killed.
    config = make_config(workers=1, timeouts_s={"waiting": 60, "L1": 6, "L2": 60, "L3": 60})
    async with bootstrap.service(config, render=faults.HANG) as service:
        track = (await add_library(service))["a.flac"]
        state = await play(service, track)
        hung, following = key_of(state, track, 0), key_of(state, track, 1)
        assert [job.key for job in state.cache.plan[:2]] == [hung, following]
        await until(service, lambda s: chunk_id(hung) in s.cache.failures)

        (failed,) = [f for f in await logged(service, ChunkFailed) if f.key == hung]
        assert failed.reason == "timeout" and "6 s" in failed.detail
        pid = fault_pid(service, "hang")
        assert gone(pid), "the hanging worker process still runs"
        assert pid not in {p.pid for p in psutil.Process().children(recursive=True)}
        await until(service, all_held([chunk_id(following)]))
        assert service.app.state.cache.failures[chunk_id(hung)].reason == "timeout"


CRASHES: dict[str, str] = {
    "exit": faults.EXIT,
    "kill": faults.KILL,
    "segfault": faults.SEGFAULT,
}


@pytest.mark.parametrize("how", sorted(CRASHES))
async def test_a_crashed_worker_is_recorded_and_replaced(
    make_config: ConfigMaker, how: str
) -> None:
    async with bootstrap.service(make_config(workers=2), render=CRASHES[how]) as service:
        track = (await add_library(service))["a.flac"]
        state = await play(service, track)
        crashed = key_of(state, track, 0)
        await until(service, lambda s: chunk_id(crashed) in s.cache.failures)
        await until(service, lambda s: bool(s.cache.held))  # rendering goes on

        (failed,) = [f for f in await logged(service, ChunkFailed) if f.key == crashed]
        assert failed.reason == "crashed"
        dead = fault_pids(service, how)
        assert all(gone(pid) for pid in dead)
        assert chunk_id(crashed) not in service.app.state.cache.held
        with anyio.fail_after(DEADLINE_S):  # replaced: two live workers again, none of the dead
            while len(service.scheduler.pool.pids) < 2:  # noqa: ASYNC110 (no event for it)
                await anyio.sleep(0.05)
        assert not set(service.scheduler.pool.pids) & set(dead)


async def test_an_exception_in_the_worker_is_a_failed_chunk_not_a_dead_service(
    make_config: ConfigMaker,
) -> None:
    async with bootstrap.service(make_config(workers=2), render=faults.RAISE) as service:
        track = (await add_library(service))["a.flac"]
        state = await play(service, track)
        broken = key_of(state, track, 0)
        await until(service, lambda s: chunk_id(broken) in s.cache.failures)
        await until(service, lambda s: bool(s.cache.held))  # the service renders on
        failed = [f for f in await logged(service, ChunkFailed) if f.key == broken]
        assert failed  # once, or again if a slow machine let the back-off come due
        assert all(f.reason == "crashed" and "a bug in the renderer" in f.detail for f in failed)


async def test_an_analysis_that_raises_is_retried_then_recorded_and_rendering_goes_on(
    make_config: ConfigMaker,
) -> None:
    config = make_config(workers=2, analyse_retry_s=0.1)
    async with bootstrap.service(config, analyse=faults.RAISE_ANALYSE) as service:
        track = (await add_library(service))["a.flac"]
        state = await play(service, track)
        planned = [chunk_id(job.key) for job in state.cache.plan]
        await until(service, all_held(planned))  # renders never wait for the analysis
        state = await until(service, lambda s: all(t.analysis for t in s.tracks.values()))
        analysed = await logged(service, TrackAnalysed)
        assert {a.track for a in analysed} == set(state.tracks)
        for event in analysed:  # each after its third failure, with the reason
            assert event.neutral_reason is not None and event.frames == 0
            assert "a bug in the analysis" in event.neutral_reason
        assert service.scheduler.outcomes.analysed == 0
