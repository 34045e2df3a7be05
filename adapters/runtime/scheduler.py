"""The scheduler: keeps the warm worker pool busy with the projection's plan, most urgent first,
and with the background analysis of the library when there is room.

- Render jobs start in plan order (the chunk the player waits on, then L1, L2, L3) on idle
  workers. When none is idle, the chunk the player waits on takes the worker of the least urgent
  running job, and any render takes one from the background analysis: that job is cancelled
  cooperatively (it stops at its next checkpoint, milliseconds later) and its worker is reused —
  no process start on the critical path. A running render the plan no longer wants is cancelled
  the same way when a planned job needs its worker.
- A job is killed only when it outlives its timeout (by priority: 20 s for the chunk the player
  waits on, 30 s L1, 60 s L2, 90 s L3); the pool replaces the process in the background.
- The first render of a track measures the track's level (`TrackLevelled`), and every chunk of
  that revision is rendered with it. The whole-track analysis runs in the background, one chunk
  per job (`adapters/runtime/analysis.py`), and never delays a render.
- Every outcome is an event: ChunkRendered, or ChunkFailed with timeout / crashed / cancelled /
  the decoder's reason.
- Before rendering, the file must still be the one the log knows; otherwise the lifecycle
  events (deleted, modified) are appended instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import anyio
import msgspec
from anyio.abc import TaskGroup, TaskStatus

from adapters.runtime import specs
from adapters.runtime.analysis import AnalysisQueue, Measured
from adapters.runtime.app import Application
from adapters.runtime.checks import lifecycle_events
from adapters.runtime.pool import Reply, Worker, WorkerPool
from adapters.runtime.status import Outcomes
from domain.events import (
    ChunkFailed,
    ChunkKey,
    ChunkRenderStarted,
    DomainEvent,
    TrackLevelled,
)
from domain.state import Job, Level, State
from domain.tiers import chunk_id
from storage.chunks import TEMP_SUFFIX, FileChunkStore

logger = logging.getLogger(__name__)

#: How urgent each kind of job is (lower first); the background analysis comes last.
RANK: Final[dict[str, int]] = {"waiting": 0, "L1": 1, "L2": 2, "L3": 3, "analysis": 4}
_KILLED: Final = frozenset({"timeout", "crashed"})


def _level_ident(key: ChunkKey) -> str:
    return f"level|{key.track}|{key.revision}"


class SchedulerConfig(msgspec.Struct, frozen=True):
    workers: int = 2
    timeouts_s: dict[str, float] = msgspec.field(
        default_factory=lambda: {"waiting": 20.0, "L1": 30.0, "L2": 60.0, "L3": 90.0}
    )
    analyse_timeout_s: float = 60.0
    analyse_retry_s: float = 30.0
    chunk_seconds: float = 30.0
    analyse_library: bool = True


class _Running:
    """A job on a worker: a render (`key`) or a chunk of background analysis."""

    def __init__(self, rank: str, ident: str, worker: Worker, key: ChunkKey | None) -> None:
        self.rank = rank
        self.ident = ident
        self.worker = worker
        self.key = key
        self.cancelling = False
        self.why = ""
        self.called = False  # the worker ran the job (and `call` gave it back)


class Scheduler:
    def __init__(
        self,
        app: Application,
        pool: WorkerPool,
        *,
        library_root: Path,
        cache_root: Path,
        config: SchedulerConfig | None = None,
        render: str = specs.RENDER,
        analyse: str = specs.ANALYSE,
        level: str = specs.LEVEL,
    ) -> None:
        self.app = app
        self.pool = pool
        self.library_root = library_root
        self.cache_root = cache_root
        self.config = config or SchedulerConfig()
        self._chunks = FileChunkStore(cache_root)
        self._render = render
        self._level = level
        self._running: dict[str, _Running] = {}
        self._poke = anyio.Event()
        self._task_group: TaskGroup | None = None
        self._levels: dict[tuple[str, int], Level] = {}  # measured, maybe not folded yet
        self.analysis = AnalysisQueue(
            library_root, self.config.chunk_seconds, analyse, retry_s=self.config.analyse_retry_s
        )
        self.outcomes = Outcomes()

    @property
    def running(self) -> list[ChunkKey]:
        return [r.key for r in self._running.values() if r.key is not None]

    def poke(self, _state: State | None = None) -> None:
        self._poke.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.app.listeners.append(self.poke)
        self.pool.on_change = self.poke
        async with anyio.create_task_group() as tg:
            self._task_group = tg
            task_status.started()
            while True:
                self._poke = anyio.Event()
                state = self.app.state
                self._cancel_unwanted(state)
                self._fill(state)
                due = self.analysis.due_in(state) if self.config.analyse_library else None
                with anyio.move_on_after(float("inf") if due is None else due):
                    await self._poke.wait()

    # --- choosing work ------------------------------------------------------------------------

    def _wanted(self, state: State, key: ChunkKey) -> bool:
        cache = state.cache
        return chunk_id(key) in cache.wanted or (cache.waiting and cache.requested == key)

    def _cancel_unwanted(self, state: State) -> None:
        """Cancel running renders the plan no longer wants, as many as planned jobs need."""
        needed = sum(1 for job in state.cache.plan if chunk_id(job.key) not in self._running)
        needed -= len(self.pool.idle)
        for running in list(self._running.values()):
            if needed <= 0:
                return
            key = running.key
            if key is not None and not running.cancelling and not self._wanted(state, key):
                self._cancel(running, "the plan no longer wants it")
                needed -= 1

    def _fill(self, state: State) -> None:
        for job in state.cache.plan:
            level = self._level_of(job.key)
            ident = chunk_id(job.key) if level is not None else _level_ident(job.key)
            if ident in self._running:
                continue
            worker = self.pool.take()
            if worker is None:
                self._make_room(job)
                return
            if level is None:  # the track's first job: measure its level, then render
                work = self._level_job(job.key, worker)
                self._start(job.deadline, ident, worker, None, work)
            else:
                work = self._render_job(job, worker)
                self._start(job.deadline, ident, worker, job.key, work)
        if not self.config.analyse_library:
            return
        busy = {r.ident for r in self._running.values() if r.rank == "analysis"}
        room = max(1, self.config.workers - 1) - len(busy)
        for ident, spec in self.analysis.next_jobs(state, busy, room):
            worker = self.pool.take()
            if worker is None:
                return
            self._start("analysis", ident, worker, None, self._analysis_job(spec, worker))

    def _level_of(self, key: ChunkKey) -> Level | None:
        track = self.app.state.tracks.get(key.track)
        if track is not None and track.level is not None:
            return track.level
        return self._levels.get((key.track, key.revision))

    def _make_room(self, job: Job) -> None:
        """No idle worker for `job`: take the least urgent running job's, if it is less urgent
        (the chunk the player waits on takes any other job's; any render takes analysis')."""
        if any(r.cancelling for r in self._running.values()):
            return  # a worker is already on its way back
        rank = RANK[job.deadline]
        victims = [
            r
            for r in self._running.values()
            if RANK[r.rank] > rank and (rank == 0 or r.rank == "analysis")
        ]
        if victims:
            victim = max(victims, key=lambda r: RANK[r.rank])
            self.outcomes.preempted += 1
            self._cancel(victim, f"pre-empted by a more urgent job (chunk {job.key.index})")

    def _cancel(self, running: _Running, why: str) -> None:
        running.cancelling, running.why = True, why
        assert self._task_group is not None
        self._task_group.start_soon(self.pool.cancel, running.worker, running.worker.job)

    def _start(
        self,
        rank: str,
        ident: str,
        worker: Worker,
        key: ChunkKey | None,
        work: Callable[[_Running], Awaitable[None]],
    ) -> None:
        running = _Running(rank, ident, worker, key)
        self._running[ident] = running
        assert self._task_group is not None
        self._task_group.start_soon(self._run, running, work)

    async def _run(self, running: _Running, work: Callable[[_Running], Awaitable[None]]) -> None:
        try:
            await work(running)
        finally:
            if not running.called:
                self.pool.give_back(running.worker)
            self._running.pop(running.ident, None)
            self.poke()

    # --- measuring a track's level ----------------------------------------------------------

    def _level_job(self, key: ChunkKey, worker: Worker) -> Callable[[_Running], Awaitable[None]]:
        async def work(running: _Running) -> None:
            spec = self.spec_for(key)
            if spec is None or await self._changed(spec) or running.cancelling:
                return
            running.called = True
            timeout = self.config.timeouts_s["waiting"]
            reply = await self.pool.call(worker, self._level, (spec,), timeout_s=timeout)
            if reply.kind == "done":
                outcome = list(reply.result)
            elif reply.kind == "cancelled":
                return  # asked again with the next plan
            else:  # the track's renders fail the same way: record it on the chunk asked for
                outcome = self._outcome(key, reply, running)
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self.app.record(*outcome)
            self._count(outcome)

        return work

    # --- background analysis ------------------------------------------------------------------

    def _analysis_job(
        self, spec: specs.AnalyseSpec, worker: Worker
    ) -> Callable[[_Running], Awaitable[None]]:
        async def work(running: _Running) -> None:
            timeout = self.config.analyse_timeout_s
            running.called = True
            reply = await self.pool.call(worker, self.analysis.ref, (spec,), timeout_s=timeout)
            measured: Measured = self.analysis.took(spec, reply)
            if measured.events:
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    await self.app.record(*measured.events)
            self.outcomes.analysed += measured.chunks

        return work

    # --- rendering ----------------------------------------------------------------------------

    def _render_job(self, job: Job, worker: Worker) -> Callable[[_Running], Awaitable[None]]:
        async def work(running: _Running) -> None:
            await self._render_one(job, worker, running)

        return work

    def spec_for(self, key: ChunkKey) -> specs.RenderSpec | None:
        track = self.app.state.tracks.get(key.track)
        if track is None or track.revision != key.revision:
            return None
        return specs.RenderSpec(
            str(self.library_root / track.path),
            key,
            self._level_of(key),
            track.analysis.frames if track.analysis is not None else None,
            str(self.cache_root),
            self.config.chunk_seconds,
        )

    async def _render_one(self, job: Job, worker: Worker, running: _Running) -> None:
        key = job.key
        spec = self.spec_for(key)
        if spec is None or await self._changed(spec) or running.cancelling:
            return  # nothing started: nothing to record
        outcome: list[DomainEvent] = []
        try:
            await self.app.record(ChunkRenderStarted(key=key))
            timeout = self.config.timeouts_s[job.deadline]
            running.called = True
            reply = await self.pool.call(worker, self._render, (spec,), timeout_s=timeout)
            outcome = self._outcome(key, reply, running)
        finally:
            if not outcome:
                outcome = [ChunkFailed(key, "cancelled", "the service is stopping")]
            # Still listed as running until its outcome is in the log: a chunk file that
            # exists is then always either running or recorded.
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self.app.record(*outcome)
            self._count(outcome)
            last = outcome[-1]
            if isinstance(last, ChunkFailed) and last.reason in _KILLED:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._remove_leftovers, key)

    async def _changed(self, spec: specs.RenderSpec) -> bool:
        """The file is no longer the one the log knows: record that instead of rendering."""
        key = spec.key
        track = self.app.state.tracks.get(key.track)
        if track is None:
            return True
        source = Path(spec.source)
        changed = await anyio.to_thread.run_sync(lifecycle_events, key.track, track, source)
        if changed:
            kinds = [type(e).__name__ for e in changed]
            logger.info("track %s changed on disk: %s", key.track, kinds)
            await self.app.record(*changed)
        return bool(changed)

    def _outcome(self, key: ChunkKey, reply: Reply, running: _Running) -> list[DomainEvent]:
        if reply.kind == "done":
            return list(reply.result)
        if reply.kind == "cancelled":
            return [ChunkFailed(key, "cancelled", running.why or "cancelled")]
        if reply.kind == "timeout":
            logger.warning("render of %s stopped: %s", chunk_id(key), reply.detail)
            return [ChunkFailed(key, "timeout", reply.detail)]
        if reply.kind == "died":
            logger.warning("render worker died on %s: %s", chunk_id(key), reply.detail)
        else:
            logger.error("render of %s raised: %s", chunk_id(key), reply.detail)
        return [ChunkFailed(key, "crashed", reply.detail)]

    def _count(self, events: list[DomainEvent]) -> None:
        for event in events:
            name = type(event).__name__
            if name == "ChunkRendered":
                self.outcomes.rendered += 1
            elif isinstance(event, TrackLevelled):
                self.outcomes.levelled += 1
                level = Level(event.loudness_db, event.peak)
                self._levels[(event.track, event.revision)] = level
            elif isinstance(event, ChunkFailed):
                failed = self.outcomes.failed
                failed[event.reason] = failed.get(event.reason, 0) + 1

    def _remove_leftovers(self, key: ChunkKey) -> None:
        """A killed render may have left its temporary file, or its file without an event."""
        if chunk_id(key) not in self.app.state.cache.held:
            self._chunks.delete(key)
        final = self._chunks.path_of(key)
        for temp in final.parent.glob(f".{final.name}.*{TEMP_SUFFIX}"):
            temp.unlink(missing_ok=True)
