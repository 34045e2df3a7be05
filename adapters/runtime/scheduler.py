"""The scheduler: keeps a pool of render worker processes busy with the projection's plan.

- Jobs start in plan order (the chunk the player waits on, then L1, L2, L3), at most `workers`
  at once. A job for the chunk the player waits on takes the slot of the least urgent running
  job when the pool is full.
- A running job the plan no longer wants (the listener moved on) is cancelled when a planned
  job needs its slot.
- Rendering runs in worker processes (`anyio.to_process`): a timeout or a cancellation kills the
  process, so the CPU is really freed; a worker that dies is replaced by the next call.
- Every outcome is an event: ChunkRendered, or ChunkFailed with timeout / crashed / cancelled /
  the decoder's reason.
- Before rendering, the file must still be the one the log knows; otherwise the lifecycle
  events (deleted, modified) are appended instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_process
import msgspec
from anyio.abc import TaskGroup, TaskStatus

from adapters.runtime import jobs
from adapters.runtime.app import Application
from adapters.runtime.checks import lifecycle_events
from domain.events import (
    ChunkAnalysed,
    ChunkFailed,
    ChunkKey,
    ChunkRendered,
    ChunkRenderStarted,
    DomainEvent,
    TrackAnalysed,
)
from domain.state import Job, State
from domain.tiers import chunk_id
from storage.chunks import TEMP_SUFFIX, FileChunkStore

logger = logging.getLogger(__name__)

RenderFunction = Callable[[jobs.RenderSpec], ChunkRendered | ChunkFailed]
AnalyseFunction = Callable[[jobs.AnalyseSpec], list[ChunkAnalysed | TrackAnalysed]]


#: Outcomes whose worker process was killed (or died) and must be replaced.
_KILLED = frozenset({"cancelled", "timeout", "crashed"})


class SchedulerConfig(msgspec.Struct, frozen=True):
    workers: int = 2
    timeouts_s: dict[str, float] = msgspec.field(
        default_factory=lambda: {"waiting": 20.0, "L1": 30.0, "L2": 60.0, "L3": 90.0}
    )
    analyse_timeout_s: float = 120.0
    chunk_seconds: float = 30.0


class _Running:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.scope = anyio.CancelScope()
        self.started = False
        self.why_cancelled = ""


class Scheduler:
    def __init__(
        self,
        app: Application,
        *,
        library_root: Path,
        cache_root: Path,
        config: SchedulerConfig | None = None,
        render: RenderFunction = jobs.render,
        analyse: AnalyseFunction = jobs.analyse,
    ) -> None:
        self.app = app
        self.library_root = library_root
        self.cache_root = cache_root
        self._chunks = FileChunkStore(cache_root)
        self.config = config or SchedulerConfig()
        self._render = render
        self._analyse = analyse
        self._limiter = anyio.CapacityLimiter(self.config.workers)
        self._spares = anyio.CapacityLimiter(self.config.workers)
        self._task_group: TaskGroup | None = None
        self._running: dict[str, _Running] = {}
        self._analyses: dict[tuple[str, int], TrackAnalysed] = {}
        self._analysis_locks: dict[str, anyio.Lock] = {}
        self._poke = anyio.Event()
        self.outcomes: dict[str, int] = {}

    @property
    def running(self) -> list[ChunkKey]:
        return [r.job.key for r in self._running.values()]

    def poke(self, _state: State | None = None) -> None:
        self._poke.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.app.listeners.append(self.poke)
        async with anyio.create_task_group() as tg:
            self._task_group = tg
            for _ in range(self.config.workers):
                tg.start_soon(self._warm_up)
            task_status.started()
            while True:
                self._poke = anyio.Event()
                state = self.app.state
                self._cancel_unwanted(state)
                self._fill(state, tg)
                await self._poke.wait()

    async def _warm_up(self) -> None:
        """Start a worker process now, so the next render does not pay for its start (imports
        take seconds): at start-up, and to replace each worker killed by a cancel or timeout."""
        try:
            await anyio.to_process.run_sync(jobs.warm_up, cancellable=True, limiter=self._spares)
        except anyio.BrokenWorkerProcess as e:
            logger.warning("a render worker failed to start: %s", e)

    def _wanted(self, state: State, key: ChunkKey) -> bool:
        cache = state.cache
        return chunk_id(key) in cache.wanted or (cache.waiting and cache.requested == key)

    def _cancel_unwanted(self, state: State) -> None:
        """Cancel running jobs the plan no longer wants, as many as planned jobs need slots.

        Cancelling kills a worker process, and a new one takes seconds to start (imports): an
        unwanted render that no planned job is waiting for is left to finish instead (its chunk
        lands as a cold entry, useful if the listener comes back to it).
        """
        live = [r for r in self._running.values() if not r.scope.cancel_called]
        queued = sum(1 for job in state.cache.plan if chunk_id(job.key) not in self._running)
        needed = queued - (self.config.workers - len(live))
        for running in live:
            if needed <= 0:
                return
            if not self._wanted(state, running.job.key):
                running.why_cancelled = "the plan no longer wants it"
                running.scope.cancel()
                needed -= 1

    def _fill(self, state: State, tg: TaskGroup) -> None:
        for job in state.cache.plan:
            ident = chunk_id(job.key)
            if ident in self._running:
                continue
            if len(self._running) >= self.config.workers:
                if job.deadline == "waiting":
                    self._preempt_for(job)
                return
            running = _Running(job)
            self._running[ident] = running
            tg.start_soon(self._run, running)

    def _preempt_for(self, job: Job) -> None:
        victims = [
            r
            for r in self._running.values()
            if r.job.deadline != "waiting" and not r.scope.cancel_called
        ]
        if victims:
            victim = max(victims, key=lambda r: r.job.priority)
            victim.why_cancelled = f"pre-empted by the chunk the player waits on ({job.key.index})"
            victim.scope.cancel()

    async def _run(self, running: _Running) -> None:
        key = running.job.key
        outcome: DomainEvent | None = None
        try:
            with running.scope:
                outcome = await self._render_job(running)
            if running.scope.cancelled_caught and running.started:
                outcome = ChunkFailed(key, "cancelled", running.why_cancelled)
        finally:
            if outcome is None and running.started and not running.scope.cancelled_caught:
                outcome = ChunkFailed(key, "cancelled", "the service is stopping")
            if outcome is not None:
                # Still listed as running until its outcome is in the log: a chunk file that
                # exists is then always either running or recorded.
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    await self.app.record(outcome)
                name = type(outcome).__name__
                reason = getattr(outcome, "reason", "")
                label = f"{name}:{reason}" if reason else name
                self.outcomes[label] = self.outcomes.get(label, 0) + 1
                killed = isinstance(outcome, ChunkFailed) and outcome.reason in _KILLED
                if killed:
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(self._remove_leftovers, key)
                    if self._task_group is not None:
                        self._task_group.start_soon(self._warm_up)
            self._running.pop(chunk_id(key), None)
            self.poke()

    def _remove_leftovers(self, key: ChunkKey) -> None:
        """A killed render may have left its temporary file, or its file without an event."""
        if chunk_id(key) not in self.app.state.cache.held:
            self._chunks.delete(key)
        final = self._chunks.path_of(key)
        for temp in final.parent.glob(f".{final.name}.*{TEMP_SUFFIX}"):
            temp.unlink(missing_ok=True)

    async def _render_job(self, running: _Running) -> DomainEvent | None:
        key = running.job.key
        track = self.app.state.tracks.get(key.track)
        if track is None or track.revision != key.revision:
            return None
        source = self.library_root / track.path
        changed = await anyio.to_thread.run_sync(lifecycle_events, key.track, track, source)
        if changed:
            logger.info(
                "track %s changed on disk: %s", key.track, [type(e).__name__ for e in changed]
            )
            await self.app.record(*changed)
            return None
        await self.app.record(ChunkRenderStarted(key=key))
        running.started = True
        analysis = await self._analysis_of(key.track, key.revision, source)
        spec = jobs.RenderSpec(
            str(source), key, analysis, str(self.cache_root), self.config.chunk_seconds
        )
        timeout = self.config.timeouts_s[running.job.deadline]
        try:
            with anyio.fail_after(timeout):
                return await anyio.to_process.run_sync(
                    self._render, spec, cancellable=True, limiter=self._limiter
                )
        except TimeoutError:
            logger.warning("render of %s stopped after its %.0f s timeout", chunk_id(key), timeout)
            return ChunkFailed(key, "timeout", f"stopped after {timeout:g} s")
        except anyio.BrokenWorkerProcess as e:
            logger.warning("render worker died on %s: %s", chunk_id(key), e)
            return ChunkFailed(key, "crashed", str(e) or "the worker process died")
        except Exception as e:  # the worker boundary: a bug in one render must not stop the rest
            logger.exception("render of %s raised", chunk_id(key))
            return ChunkFailed(key, "crashed", f"{type(e).__name__}: {e}")

    async def _analysis_of(self, track: str, revision: int, source: Path) -> TrackAnalysed:
        """The track's analysis from the log; analysed (and recorded) first when missing."""
        lock = self._analysis_locks.setdefault(track, anyio.Lock())
        async with lock:
            known = self._analyses.get((track, revision))
            if known is not None:
                return known
            async for recorded in self.app.log.events.read(types={"TrackAnalysed"}, track=track):
                event = recorded.event
                if isinstance(event, TrackAnalysed) and event.revision == revision:
                    known = event
            if known is None:
                known = await self._analyse_now(track, revision, source)
            self._analyses[(track, revision)] = known
            return known

    async def _analyse_now(self, track: str, revision: int, source: Path) -> TrackAnalysed:
        spec = jobs.AnalyseSpec(str(source), track, revision, self.config.chunk_seconds)
        try:
            with anyio.fail_after(self.config.analyse_timeout_s):
                events: list[DomainEvent] = list(
                    await anyio.to_process.run_sync(
                        self._analyse, spec, cancellable=True, limiter=self._limiter
                    )
                )
        except TimeoutError:
            events = [TrackAnalysed(track, revision, -14.0, 1.0, 0, "analysis timed out")]
        except anyio.BrokenWorkerProcess:
            events = [TrackAnalysed(track, revision, -14.0, 1.0, 0, "analysis worker crashed")]
        except Exception as e:  # the worker boundary, as for renders
            logger.exception("analysis of %s raised", track)
            detail = f"analysis failed: {type(e).__name__}: {e}"
            events = [TrackAnalysed(track, revision, -14.0, 1.0, 0, detail)]
        await self.app.record(*events)
        final = events[-1]
        assert isinstance(final, TrackAnalysed)
        return final
