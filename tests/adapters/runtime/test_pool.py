"""The warm worker pool: exactly `size` processes, reused; a cancelled job leaves its worker alive;
a job past its timeout costs its process, which is replaced in the background."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import psutil
import pytest

from adapters.runtime import specs
from adapters.runtime.pool import Worker, WorkerPool

pytestmark = pytest.mark.anyio

DEADLINE_S = 60.0
SPIN = "tests.adapters.runtime.pool_jobs:spin"
HANG = "tests.adapters.runtime.pool_jobs:hang"
PID = "os:getpid"
MODULES = "tests.adapters.runtime.pool_jobs:modules"


async def until(pool: WorkerPool, predicate: Callable[[], bool]) -> None:
    """Wait (with a deadline) until `predicate` holds, looking each time the pool changes."""
    with anyio.fail_after(DEADLINE_S):
        while not predicate():
            changed = anyio.Event()
            pool.on_change = changed.set
            with anyio.move_on_after(0.5):  # a job's state is not a pool change: look again
                await changed.wait()


@asynccontextmanager
async def running(size: int, preload: tuple[str, ...] = (SPIN,)) -> AsyncIterator[WorkerPool]:
    pool = WorkerPool(size, preload=preload)
    async with anyio.create_task_group() as tg:
        await tg.start(pool.run)
        await until(pool, lambda: len(pool.idle) == size)
        yield pool
        tg.cancel_scope.cancel()


@pytest.fixture
async def pool() -> AsyncIterator[WorkerPool]:
    async with running(2) as started:
        yield started


async def _take(pool: WorkerPool) -> Worker:
    await until(pool, lambda: bool(pool.idle))
    worker = pool.take()
    assert worker is not None
    return worker


def _workers() -> set[int]:
    return {p.pid for p in psutil.Process().children() if "adapters.runtime.worker" in p.cmdline()}


async def test_exactly_size_processes_run_and_each_job_reuses_one(pool: WorkerPool) -> None:
    assert len(pool.pids) == 2 and set(pool.pids) == _workers()
    seen = set()
    for _ in range(6):
        worker = await _take(pool)
        reply = await pool.call(worker, PID, (), timeout_s=DEADLINE_S)
        assert reply.kind == "done" and reply.result == worker.pid != os.getpid()
        seen.add(reply.result)
    assert seen <= set(pool.pids) and pool.started == 2  # no process started for a job


async def test_workers_run_the_numerical_libraries_single_threaded(pool: WorkerPool) -> None:
    worker = await _take(pool)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        reply = await pool.call(worker, "os:getenv", (name,), timeout_s=DEADLINE_S)
        assert reply.kind == "done" and reply.result == os.environ.get(name, "1")


async def test_up_is_set_once_every_worker_is_ready_not_before() -> None:
    pool = WorkerPool(2, preload=[SPIN])
    async with anyio.create_task_group() as tg:
        await tg.start(pool.run)
        assert not pool.up.is_set() and not pool.idle  # started, no process up yet
        with anyio.fail_after(DEADLINE_S):
            await pool.up.wait()
        assert len(pool.idle) == 2
        tg.cancel_scope.cancel()


async def test_a_cancelled_job_stops_at_its_checkpoint_and_its_worker_lives_on(
    pool: WorkerPool,
) -> None:
    worker = await _take(pool)
    async with anyio.create_task_group() as tg:
        replies = []

        async def run() -> None:
            replies.append(await pool.call(worker, SPIN, (60.0,), timeout_s=DEADLINE_S))

        tg.start_soon(run)
        await until(pool, lambda: worker.job is not None)
        await anyio.sleep(0.2)  # it is inside the job now
        began = anyio.current_time()
        await pool.cancel(worker, worker.job)
    assert replies[0].kind == "cancelled"
    assert anyio.current_time() - began < 5.0  # at the next checkpoint, not at the job's end
    assert worker.process.returncode is None and worker in pool.idle
    assert pool.started == 2
    again = await pool.call(await _take(pool), PID, (), timeout_s=DEADLINE_S)
    assert again.result in pool.pids


async def test_a_cancel_for_a_job_that_ended_is_ignored_by_the_next_one() -> None:
    async with running(1) as pool:
        worker = await _take(pool)
        done = await pool.call(worker, PID, (), timeout_s=DEADLINE_S)
        old_job = 1  # the id the ended job had: not the running one's
        assert pool.take() is worker
        async with anyio.create_task_group() as tg:
            replies = []

            async def run() -> None:
                replies.append(await pool.call(worker, SPIN, (0.5,), timeout_s=DEADLINE_S))

            tg.start_soon(run)
            await until(pool, lambda: worker.job is not None)
            await pool.cancel(worker, old_job)
        assert done.kind == "done" and replies[0].kind == "done"


async def test_a_job_past_its_timeout_costs_its_process_which_is_replaced(
    pool: WorkerPool,
) -> None:
    worker = await _take(pool)
    reply = await pool.call(worker, HANG, (), timeout_s=1.0)
    assert reply.kind == "timeout"
    assert not psutil.pid_exists(worker.pid) or psutil.Process(worker.pid).status() == "zombie"
    await until(pool, lambda: len(pool.idle) == 2)
    assert pool.started == 3 and worker.pid not in pool.pids and len(pool.pids) == 2


async def test_a_worker_that_dies_is_reported_and_replaced(pool: WorkerPool) -> None:
    worker = await _take(pool)
    reply = await pool.call(worker, "os:_exit", (3,), timeout_s=DEADLINE_S)
    assert reply.kind == "died" and "exited with code 3" in reply.detail
    await until(pool, lambda: len(pool.pids) == 2)
    assert worker.pid not in pool.pids


async def test_the_workers_import_only_what_rendering_needs(pool: WorkerPool) -> None:
    worker = await _take(pool)
    reply = await pool.call(worker, MODULES, (), timeout_s=30)
    heavy = {"adapters.cli", "adapters.http", "adapters.bootstrap", "sqlalchemy", "starlette"}
    assert reply.kind == "done" and not heavy & set(reply.result)
    assert "numpy" in reply.result


async def test_a_render_worker_does_without_scipy() -> None:
    """What the service's workers preload renders and analyses without scipy, which would cost
    each worker about 0.9 s of CPU and 70 MB before its first render (`bench/iir.py`)."""
    async with running(1, (specs.RENDER, specs.ANALYSE, specs.LEVEL)) as started:
        worker = await _take(started)
        reply = await started.call(worker, MODULES, (), timeout_s=30)
    assert reply.kind == "done", reply
    assert {"numpy", "soundfile", "adapters.audio"} <= set(reply.result)
    assert "scipy" not in reply.result


async def test_stopping_the_pool_ends_its_processes() -> None:
    async with running(1) as pool:
        pids = pool.pids
    assert pids and not (_workers() & set(pids))
