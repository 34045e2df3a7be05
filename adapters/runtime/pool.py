"""A warm pool of exactly `size` render worker processes, started with the service and reused.

Each worker (`adapters/runtime/worker.py`) imports only the audio code, announces itself ready and
then runs one job at a time. A job is cancelled cooperatively (`cancel`): the worker stops at its
next checkpoint and stays alive, so taking a worker for the chunk the player waits on never waits
for a process to start. A worker is killed only for a real timeout or when it stops answering; it
is then replaced in the background, off the critical path. Workers die with the service, even
when it is killed (see the worker module).
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import anyio
import msgspec
from anyio.abc import Process, TaskGroup, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from adapters.runtime.worker import frame

logger = logging.getLogger(__name__)

_HEADER_SIZE: Final = 4
RESTART_BACKOFF_S: Final = 1.0

ReplyKind = Literal["done", "cancelled", "error", "died", "timeout"]


class Reply(msgspec.Struct, frozen=True):
    """How a job ended: its result (`done`), or why it has none."""

    kind: ReplyKind
    result: Any = None
    detail: str = ""


class Worker:
    """One worker process and its pipes; `busy` while it runs a job."""

    def __init__(self, process: Process, pid: int) -> None:
        self.process = process
        self.pid = pid
        assert process.stdout is not None and process.stdin is not None
        self._out = BufferedByteReceiveStream(process.stdout)
        self._in = process.stdin
        self._send_lock = anyio.Lock()
        self.job: int | None = None

    async def send(self, message: object) -> None:
        async with self._send_lock:
            await self._in.send(frame(message))

    async def receive(self) -> Any:
        header = await self._out.receive_exactly(_HEADER_SIZE)
        body = await self._out.receive_exactly(int.from_bytes(header, "big"))
        return pickle.loads(body)


#: Thread pools of the numerical libraries: one thread each in a worker, since the pool's
#: processes are the parallelism (two workers with the default threads on two cores rendered
#: pairs of chunks 13-15 % slower, measured in three adjacent pairs at a load of 4). A value the
#: user set is kept.
SINGLE_THREADED: Final = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def worker_env() -> dict[str, str]:
    return {**{name: "1" for name in SINGLE_THREADED}, **os.environ}


class WorkerPool:
    def __init__(
        self,
        size: int,
        *,
        preload: Sequence[str] = (),
        start_timeout_s: float = 120.0,
        python: str = sys.executable,
    ) -> None:
        self.size = size
        self.preload = tuple(preload)
        self.start_timeout_s = start_timeout_s
        self.python = python
        self.idle: list[Worker] = []
        self.busy: set[Worker] = set()
        self.starting = 0
        self.started = 0  # processes started over the pool's life (replacements included)
        self.up = anyio.Event()  # set once the first `size` workers are ready
        self.on_change: Callable[[], None] = lambda: None
        self._ids = itertools.count(1)
        self._task_group: TaskGroup | None = None

    @property
    def pids(self) -> list[int]:
        return sorted(w.pid for w in [*self.idle, *self.busy])

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start the workers and keep `size` of them alive until cancelled; then stop them all.
        Ready at once: jobs wait for the first worker that comes up."""
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                logger.info("starting %d render worker processes", self.size)
                for _ in range(self.size):
                    self._replace()
                task_status.started()
                await anyio.sleep_forever()
        finally:
            self._task_group = None
            with anyio.CancelScope(shield=True):
                for worker in [*self.idle, *self.busy]:
                    await _stop(worker.process)
                self.idle.clear()
                self.busy.clear()

    def take(self) -> Worker | None:
        """An idle worker, now marked busy; None when every worker is busy or starting."""
        if not self.idle:
            return None
        worker = self.idle.pop(0)
        self.busy.add(worker)
        return worker

    async def call(
        self, worker: Worker, ref: str, args: tuple[Any, ...], *, timeout_s: float
    ) -> Reply:
        """Run `ref` (``"module:function"``) on a worker from `take`, and give it back.

        A timeout kills the worker (and starts another); so does a cancellation of the caller,
        since the worker's state is then unknown. A worker that dies answers `died`."""
        job = next(self._ids)
        worker.job = job
        keep = False
        try:
            with anyio.fail_after(timeout_s):
                await worker.send(("job", job, ref, args))
                message = await worker.receive()
            keep = True
            kind = message[0]
            if kind == "done":
                return Reply("done", message[2])
            if kind == "error":
                return Reply("error", detail=message[2])
            return Reply("cancelled")
        except TimeoutError:
            return Reply("timeout", detail=f"stopped after {timeout_s:g} s")
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.IncompleteRead) as e:
            code = await _exit_code(worker.process)
            return Reply("died", detail=_death(code) or f"the worker process died ({e!r})")
        finally:
            worker.job = None
            self.busy.discard(worker)
            if keep:
                self.idle.append(worker)
            else:  # killed and reaped before the caller records why, then replaced
                with anyio.CancelScope(shield=True):
                    await _stop(worker.process)
                self._replace()
            self.on_change()

    def give_back(self, worker: Worker) -> None:
        """Return a worker from `take` that ran no job (a `call` gives its worker back)."""
        if worker in self.busy:
            self.busy.discard(worker)
            self.idle.append(worker)
            self.on_change()

    async def cancel(self, worker: Worker, job: int | None) -> None:
        """Ask the worker to stop job `job` at its next checkpoint (it stays alive); a job that
        has already ended is not touched."""
        if job is None:
            return
        try:
            await worker.send(("cancel", job))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # it died meanwhile: `call` reports that

    def _replace(self) -> None:
        if self._task_group is not None:
            self.starting += 1
            self._task_group.start_soon(self._start_one)

    async def _start_one(self) -> None:
        try:
            while True:
                try:
                    worker = await self._spawn()
                except (OSError, TimeoutError, anyio.EndOfStream, anyio.IncompleteRead) as e:
                    logger.warning("a render worker failed to start (%s); trying again", e)
                    await anyio.sleep(RESTART_BACKOFF_S)
                    continue
                self.idle.append(worker)
                self.started += 1
                if self.started >= self.size:
                    self.up.set()
                logger.debug("render worker %d ready", worker.pid)
                return
        finally:
            self.starting -= 1
            self.on_change()

    async def _spawn(self) -> Worker:
        command = [self.python, "-m", "adapters.runtime.worker", str(os.getpid())]
        process = await anyio.open_process(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, env=worker_env()
        )
        worker = Worker(process, process.pid)
        try:
            with anyio.fail_after(self.start_timeout_s):
                await worker.send(("init", list(sys.path), self.preload))
                ready = await worker.receive()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _stop(process)
            raise
        if ready[0] != "ready":
            await _stop(process)
            raise OSError(f"unexpected first message from a worker: {ready[0]!r}")
        return worker


async def _stop(process: Process) -> None:
    if process.returncode is None:
        try:
            process.kill()
        except ProcessLookupError:
            pass
    with anyio.CancelScope(shield=True), anyio.move_on_after(5):
        await process.wait()
    await process.aclose()


async def _exit_code(process: Process) -> int | None:
    with anyio.move_on_after(2):
        return await process.wait()
    return None


def _death(code: int | None) -> str:
    if code is None:
        return ""
    if code < 0:
        return f"the worker process was killed by {signal.Signals(-code).name}"
    return f"the worker process exited with code {code}"
