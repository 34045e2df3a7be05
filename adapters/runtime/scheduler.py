"""The scheduler: keeps the warm worker pool busy with the projection's plan, most urgent first,
and with the background analysis of the library when there is room.

- Which job each free worker takes and which running job gives its worker up is decided by
  `domain.dispatch` (the simulator follows the same policy): plan order, the chunk the player
  waits on taking the least urgent job's worker, renders taking the analysis' workers, renders
  the plan no longer wants giving theirs up. Giving up is a cooperative cancellation (the job
  stops at its next checkpoint, milliseconds later) and the worker is reused: no process start
  on the critical path.
- A job is killed only when it outlives its timeout (by priority: 20 s for the chunk the player
  waits on, 30 s L1, 60 s L2, 90 s L3); the pool replaces the process in the background.
- A track's first job measures its level (`TrackLevelled`), and every chunk of that revision is
  rendered with it. The whole-track analysis runs in the background, one chunk per job
  (`adapters/runtime/analysis.py`), and never delays a render.
- Every outcome is an event: ChunkRendered, or ChunkFailed with timeout / crashed / cancelled /
  the decoder's reason.
- Before rendering, the file must still be the one the log knows; otherwise the lifecycle
  events (deleted, modified) are appended instead.
"""

from __future__ import annotations

import logging
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
from domain.dispatch import Cancel, Rank, Running, Start, dispatch
from domain.events import (
    ChunkFailed,
    ChunkKey,
    ChunkRenderStarted,
    DomainEvent,
    TrackLevelled,
)
from domain.state import Level, State
from domain.tiers import chunk_id
from storage.chunks import TEMP_SUFFIX, FileChunkStore

logger = logging.getLogger(__name__)

_KILLED: Final = frozenset({"timeout", "crashed"})


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
    """A job on a worker: a render or a level (`key`), or a chunk of analysis (`track`)."""

    def __init__(self, start: Start, worker: Worker) -> None:
        self.rank: Rank = start.rank
        self.ident = start.ident
        self.kind = start.kind
        self.key = start.key
        self.track = start.track
        self.worker = worker
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
                self._dispatch(state)
                due = self.analysis.due_in(state) if self.config.analyse_library else None
                with anyio.move_on_after(float("inf") if due is None else due):
                    await self._poke.wait()

    # --- choosing work ------------------------------------------------------------------------

    def _dispatch(self, state: State) -> None:
        running = [
            Running(r.ident, r.rank, r.key, r.track, r.cancelling) for r in self._running.values()
        ]
        wanted = self.config.workers if self.config.analyse_library else 0
        actions = dispatch(
            state,
            running,
            len(self.pool.idle),
            self.config.workers,
            levelled=lambda key: self._level_of(key) is not None,
            analysable=self.analysis.candidates(state, wanted),
        )
        for action in actions:
            if isinstance(action, Cancel):
                self.outcomes.preempted += action.preempted
                self._cancel(self._running[action.ident], action.why)
                continue
            worker = self.pool.take()
            if worker is None:
                return
            self._start(action, worker, state)

    def _level_of(self, key: ChunkKey) -> Level | None:
        track = self.app.state.tracks.get(key.track)
        if track is not None and track.level is not None:
            return track.level
        return self._levels.get((key.track, key.revision))

    def _cancel(self, running: _Running, why: str) -> None:
        running.cancelling, running.why = True, why
        assert self._task_group is not None
        self._task_group.start_soon(self.pool.cancel, running.worker, running.worker.job)

    def _start(self, start: Start, worker: Worker, state: State) -> None:
        running = _Running(start, worker)
        self._running[start.ident] = running
        assert self._task_group is not None
        self._task_group.start_soon(self._run, running, state)

    async def _run(self, running: _Running, state: State) -> None:
        try:
            if running.kind == "analysis":
                assert running.track is not None
                await self._analyse(running, state, running.track)
            elif running.kind == "level":
                assert running.key is not None
                await self._measure_level(running, running.key)
            else:
                assert running.key is not None
                await self._render_one(running, running.key)
        finally:
            if not running.called:
                self.pool.give_back(running.worker)
            self._running.pop(running.ident, None)
            self.poke()

    # --- measuring a track's level ----------------------------------------------------------

    async def _measure_level(self, running: _Running, key: ChunkKey) -> None:
        spec = self.spec_for(key)
        if spec is None or await self._changed(spec) or running.cancelling:
            return
        running.called = True
        timeout = self.config.timeouts_s["waiting"]
        reply = await self.pool.call(running.worker, self._level, (spec,), timeout_s=timeout)
        if reply.kind == "done":
            outcome = list(reply.result)
        elif reply.kind == "cancelled":
            return  # asked again with the next plan
        else:  # the track's renders would fail the same way: recorded on the chunk asked for
            outcome = self._outcome(key, reply, running)
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await self.app.record(*outcome)
        self._count(outcome)

    # --- background analysis ------------------------------------------------------------------

    async def _analyse(self, running: _Running, state: State, track: str) -> None:
        spec = self.analysis.spec_for(state, track)
        if spec is None or running.cancelling:
            return
        running.called = True
        timeout = self.config.analyse_timeout_s
        reply = await self.pool.call(running.worker, self.analysis.ref, (spec,), timeout_s=timeout)
        measured: Measured = self.analysis.took(spec, reply)
        if measured.events:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self.app.record(*measured.events)
        self.outcomes.analysed += measured.chunks

    # --- rendering ----------------------------------------------------------------------------

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

    async def _render_one(self, running: _Running, key: ChunkKey) -> None:
        spec = self.spec_for(key)
        if spec is None or await self._changed(spec) or running.cancelling:
            return  # nothing started: nothing to record
        outcome: list[DomainEvent] = []
        try:
            await self.app.record(ChunkRenderStarted(key=key))
            timeout = self.config.timeouts_s[running.rank]
            running.called = True
            reply = await self.pool.call(running.worker, self._render, (spec,), timeout_s=timeout)
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
