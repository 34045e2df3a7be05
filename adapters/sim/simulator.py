"""The simulator: a listening trace through the real fold and the real dispatch policy, with the
costs of the running service — pure and seeded, no clock, no I/O.

`run_projection` plays a trace (`adapters/sim/trace.py`) as the service would live it: the
player's interactions, position reports and chunk requests at their times (divided by `speed`,
as the end-to-end benchmark plays them), and a pool of `Costs.workers` render workers that take
jobs as `domain.dispatch` says (the service's scheduler follows the same module), each job
lasting what it costs on the running service: the worker start at the beginning, a track's
level before its first render, a render per chunk, the background analysis a chunk at a time,
the delay of a cooperative cancellation. It returns the event log it produced with its figures.
`Costs` are calibrated against the running service by `bench/listen.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import msgspec

from adapters.sim.trace import SplitMix, Step, Trace
from domain.dispatch import Cancel, Running, Start, dispatch
from domain.events import (
    BudgetsSet,
    ChunkAnalysed,
    ChunkFailed,
    ChunkKey,
    ChunkQueued,
    ChunkRendered,
    ChunkRenderStarted,
    ChunkRequested,
    DomainEvent,
    Fingerprint,
    NextTrackQueued,
    PositionReported,
    PresetChanged,
    Recorded,
    Seeked,
    TrackAdded,
    TrackAnalysed,
    TrackChanged,
    TrackLevelled,
)
from domain.projection import evolve
from domain.state import MB, State
from domain.tiers import chunk_count, chunk_id, estimate_chunk_bytes


class Costs(msgspec.Struct, frozen=True):
    """What work costs on the running service, in ms (`bench/listen.py` measures them)."""

    workers: int = 2
    render_ms: int = 400  # one 30 s chunk
    level_ms: int = 150  # a track's level, before its first render
    analyse_ms: int = 250  # one chunk of background analysis
    start_ms: int = 1_500  # the workers' start with the service
    cancel_ms: int = 30  # from a cancellation until the worker is free


DEFAULT_COSTS: Final = Costs()
DEFAULT_RENDER_MS: Final = DEFAULT_COSTS.render_ms


class Figures(msgspec.Struct, frozen=True):
    requests: int
    waited: int
    hits: tuple[int, int, int]
    rendered: int  # renders that ended with a chunk (the same chunk twice counts twice)
    wasted: int  # chunks rendered and never requested
    accuracy: float | None

    @property
    def served(self) -> float:
        return 1.0 - self.waited / self.requests if self.requests else 0.0

    @property
    def renders_per_request(self) -> float:
        return self.rendered / self.requests if self.requests else 0.0


class Run(msgspec.Struct, frozen=True):
    events: tuple[Recorded, ...]
    state: State
    figures: Figures


def setup_events(trace: Trace) -> list[DomainEvent]:
    events: list[DomainEvent] = [BudgetsSet(18 * MB, 36 * MB, 45 * MB)]
    for spec in trace.library:
        fingerprint = Fingerprint(spec.duration_ms, 0, f"h-{spec.track}")
        events.append(
            TrackAdded(
                spec.track,
                f"{spec.track}.flac",
                fingerprint,
                spec.duration_ms,
                spec.sample_rate,
                spec.channels,
            )
        )
    return events


class _Job(msgspec.Struct):
    start: Start
    ends_at: int
    cancelling: bool = False


class _Sim:
    """The service in virtual time: the fold, the workers and what they run."""

    def __init__(self, trace: Trace, costs: Costs, fail_percent: int) -> None:
        self.trace, self.costs, self.fail_percent = trace, costs, fail_percent
        self.rng = SplitMix(trace.seed ^ 0x5EED)
        self.events: list[Recorded] = []
        self.state = State()
        self.free = [costs.start_ms] * costs.workers  # when each idle worker is ready
        self.jobs: dict[str, _Job] = {}
        self.analysed_to: dict[str, int] = {}  # next chunk of each track's analysis
        self.rendered: list[str] = []
        self.order = [spec.track for spec in trace.library]

    def emit(self, at: int, event: DomainEvent) -> None:
        recorded = Recorded(len(self.events) + 1, f"sim-{len(self.events) + 1}", at, at, event)
        self.state = evolve(self.state, recorded)
        self.events.append(recorded)

    def step(self, at: int, step: Step) -> None:
        if step.kind == "track":
            self.emit(at, TrackChanged(step.track, step.position_ms))
            following = self.order[(self.order.index(step.track) + 1) % len(self.order)]
            self.emit(at, NextTrackQueued(following))
        elif step.kind == "preset":
            self.emit(at, PresetChanged(step.preset))
        elif step.kind == "seek":
            self.emit(at, Seeked(step.position_ms))
        elif step.kind == "position":
            self.emit(at, PositionReported(step.position_ms))
        else:
            track = self.state.tracks[step.track]
            key = ChunkKey(step.track, track.revision, step.preset, 5, step.index)
            self.emit(at, ChunkRequested(key))

    def finish(self, now: int, ident: str) -> None:
        job = self.jobs.pop(ident)
        self.free.append(now)
        start = job.start
        if start.kind == "render":
            assert start.key is not None
            self._rendered(now, start.key, job.cancelling)
        elif start.kind == "level" and not job.cancelling:
            assert start.key is not None
            self.emit(now, TrackLevelled(start.key.track, start.key.revision, -14.0, 1.0))
        elif start.kind == "analysis" and not job.cancelling:
            assert start.track is not None
            self._analysed(now, start.track)

    def _rendered(self, now: int, key: ChunkKey, cancelled: bool) -> None:
        if cancelled:
            self.emit(now, ChunkFailed(key, "cancelled", "no longer planned"))
        elif self.fail_percent and self.rng.chance(self.fail_percent):
            self.emit(now, ChunkFailed(key, "corrupt", "simulated"))
        else:
            track = self.state.tracks[key.track]
            size = estimate_chunk_bytes(track, key.index) * self.rng.uniform(85, 105) // 100
            path = f"chunks/{chunk_id(key)}.flac"
            self.emit(now, ChunkRendered(key, path, size, "sum", 0, self.costs.render_ms))
            self.rendered.append(chunk_id(key))

    def _analysed(self, now: int, name: str) -> None:
        track = self.state.tracks.get(name)
        if track is None:
            return
        index = self.analysed_to.get(name, 0)
        energy, brightness, dynamics, vocals, rhythm = (
            self.rng.uniform(0, 100) / 100 for _ in range(5)
        )
        self.emit(
            now,
            ChunkAnalysed(
                name, track.revision, index, energy, brightness, dynamics, vocals, rhythm
            ),
        )
        if index + 1 >= chunk_count(track.duration_ms):
            frames = track.duration_ms * track.sample_rate // 1000
            self.emit(now, TrackAnalysed(name, track.revision, -14.0, 1.0, frames))
        self.analysed_to[name] = index + 1

    def dispatch(self, now: int) -> None:
        state = self.state
        running = [
            Running(i, j.start.rank, j.start.key, j.start.track, j.cancelling)
            for i, j in sorted(self.jobs.items())
        ]
        idle = sum(1 for t in self.free if t <= now)
        actions = dispatch(
            state,
            running,
            idle,
            self.costs.workers,
            levelled=self._levelled,
            analysable=self._analysable(),
        )
        for action in actions:
            if isinstance(action, Cancel):
                job = self.jobs[action.ident]
                job.cancelling = True
                job.ends_at = min(job.ends_at, now + self.costs.cancel_ms)
            else:
                self._start(now, action)

    def _start(self, now: int, start: Start) -> None:
        self.free.remove(min(self.free))
        cost = {
            "render": self.costs.render_ms,
            "level": self.costs.level_ms,
            "analysis": self.costs.analyse_ms,
        }
        self.jobs[start.ident] = _Job(start, now + cost[start.kind])
        if start.kind == "render":
            assert start.key is not None
            self.emit(now, ChunkQueued(start.key))
            self.emit(now, ChunkRenderStarted(start.key))

    def _levelled(self, key: ChunkKey) -> bool:
        track = self.state.tracks.get(key.track)
        return track is not None and track.level is not None

    def _analysable(self) -> list[str]:
        state = self.state
        first = [t for t in (state.playback.track, state.cache.next_track) if t is not None]
        out: list[str] = []
        for name in [*first, *self.order]:
            track = state.tracks.get(name)
            if track is not None and track.analysis is None and name not in out:
                out.append(name)
            if len(out) >= self.costs.workers:
                break
        return out

    def next_event(self, now: int) -> int | None:
        """When a job ends or a starting worker is ready, after `now`."""
        later = [j.ends_at for j in self.jobs.values()] + [t for t in self.free if t > now]
        return min(later, default=None)


def _timed(trace: Trace, speed: float) -> Iterator[tuple[int, Step]]:
    for step in trace.steps:
        yield round(step.at / speed), step


def run_projection(
    trace: Trace, costs: Costs = DEFAULT_COSTS, *, speed: float = 1.0, fail_percent: int = 0
) -> Run:
    """Play the trace through the fold and the dispatch policy, at `speed` times real time."""
    sim = _Sim(trace, costs, fail_percent)
    for event in setup_events(trace):
        sim.emit(0, event)
    steps = list(_timed(trace, speed))
    end = round(trace.end_ms / speed)
    i, now = 0, 0
    while now <= end:
        for ident in sorted(i for i, j in sim.jobs.items() if j.ends_at <= now):
            sim.finish(now, ident)
        while i < len(steps) and steps[i][0] <= now:
            sim.step(now, steps[i][1])
            i += 1
        sim.dispatch(now)
        upcoming = [sim.next_event(now), steps[i][0] if i < len(steps) else None]
        later = [t for t in upcoming if t is not None and t > now]
        if not later:
            break
        now = min(later)
    return Run(tuple(sim.events), sim.state, _figures(sim))


def _figures(sim: _Sim) -> Figures:
    state = sim.state
    stats, predictor = state.stats, state.predictor
    requested = {chunk_id(r.event.key) for r in sim.events if isinstance(r.event, ChunkRequested)}
    accuracy = predictor.correct / predictor.predictions if predictor.predictions else None
    return Figures(
        stats.requests,
        stats.misses,
        (stats.hits_l1, stats.hits_l2, stats.hits_l3),
        len(sim.rendered),
        len(set(sim.rendered) - requested),
        accuracy,
    )
