"""Listening-trace simulator in virtual time: pure and seeded, no clock, no I/O.

A listener profile produces a script of interactions (track changes, preset switches, seeks, the
player's chunk requests at every chunk boundary and after every interaction). `run_projection`
plays the script through the real fold with a render worker of a given speed that always takes the
first job of the plan, and returns the event log it produced with its figures. The randomness is a
small splitmix64 generator, so traces are identical on every Python and machine.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from adapters.errors import AdapterError
from domain.events import (
    PRESETS,
    BudgetsSet,
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
    Preset,
    PresetChanged,
    Recorded,
    Seeked,
    TrackAdded,
    TrackChanged,
)
from domain.projection import evolve
from domain.state import MB, State
from domain.tiers import CHUNK_MS, chunk_id, estimate_chunk_bytes

PROFILES: Final[tuple[str, ...]] = ("steady", "habitual", "explorer", "seeker", "skipper", "mixed")
HABIT: Final[dict[Preset, Preset]] = {"adaptive": "warm", "warm": "bright", "bright": "adaptive"}
REPORT_MS: Final[int] = 250
_MASK: Final[int] = (1 << 64) - 1

Kind = Literal["track", "preset", "seek", "request"]


class UnknownProfileError(AdapterError):
    def __init__(self, profile: str) -> None:
        super().__init__(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        self.profile = profile


class SplitMix:
    """splitmix64: a tiny deterministic generator, the same everywhere."""

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK

    def next(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def uniform(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return low + self.next() % (high - low + 1)

    def chance(self, percent: int) -> bool:
        return self.next() % 100 < percent


class Step(msgspec.Struct, frozen=True):
    at: int
    kind: Kind
    track: str = ""
    preset: Preset = "adaptive"
    position_ms: int = 0
    index: int = 0


class TrackSpec(msgspec.Struct, frozen=True):
    track: str
    duration_ms: int
    sample_rate: int
    channels: int


class Trace(msgspec.Struct, frozen=True):
    profile: str
    seed: int
    library: tuple[TrackSpec, ...]
    steps: tuple[Step, ...]
    end_ms: int


def library(rng: SplitMix, size: int = 40) -> tuple[TrackSpec, ...]:
    return tuple(
        TrackSpec(
            f"track-{n:03d}",
            rng.uniform(150_000, 420_000),
            48_000 if rng.chance(20) else 44_100,
            2,
        )
        for n in range(size)
    )


def _profile_at(profile: str, now: int) -> str:
    if profile != "mixed":
        return profile
    phases = ("steady", "habitual", "seeker", "steady", "skipper", "explorer", "habitual")
    return phases[(now // 300_000) % len(phases)]


def script(profile: str, seed: int, minutes: int = 30) -> Trace:
    """The listener's interactions and the player's requests, in virtual time."""
    if profile not in PROFILES:
        raise UnknownProfileError(profile)
    rng = SplitMix(seed * 1_000_003 + PROFILES.index(profile))
    tracks = library(rng)
    end = minutes * 60_000
    steps: list[Step] = []
    now, current = 0, 0
    preset: Preset = "adaptive"
    next_action = now + rng.uniform(20_000, 90_000)
    position, started = 0, 0  # position at `started`

    def request(at: int) -> None:
        pos = position + (at - started)
        steps.append(Step(at, "request", tracks[current].track, preset, pos, pos // CHUNK_MS))

    steps.append(Step(now, "track", tracks[current].track, position_ms=0))
    request(now)
    while now < end:
        duration = tracks[current].duration_ms
        boundary = started + (position // CHUNK_MS + 1) * CHUNK_MS - position
        track_end = started + duration - position
        now = min(boundary, track_end, next_action)
        if now == track_end or (now == next_action and _profile_at(profile, now) == "skipper"):
            current = (current + 1) % len(tracks)
            position, started = 0, now
            steps.append(Step(now, "track", tracks[current].track))
            request(now)
            if now == next_action:
                next_action = now + rng.uniform(8_000, 50_000)
            continue
        if now == boundary and now != next_action:
            position, started = position + (now - started), now
            request(now)
            continue
        mode = _profile_at(profile, now)
        position, started = position + (now - started), now
        if mode in ("habitual", "explorer") or (mode == "steady" and profile == "mixed"):
            burst = 12 if mode == "explorer" else 1
            for k in range(burst):
                at = now + k * 80
                preset = _next_preset(rng, preset, mode)
                steps.append(Step(at, "preset", preset=preset))
                request(at)
            now += (burst - 1) * 80
            next_action = now + rng.uniform(40_000, 120_000)
        elif mode == "seeker":
            forward = rng.chance(70)
            span = max(1, duration - position - 1_000) if forward else max(1, position)
            target = position + rng.uniform(0, span) if forward else rng.uniform(0, span)
            position, started = min(target, duration - 1), now
            steps.append(Step(now, "seek", position_ms=position))
            request(now)
            next_action = now + rng.uniform(20_000, 60_000)
        else:
            next_action = now + rng.uniform(20_000, 90_000)
    return Trace(profile, seed, tracks, tuple(s for s in steps if s.at <= end), end)


def _next_preset(rng: SplitMix, current: Preset, mode: str) -> Preset:
    if mode == "habitual" and current in HABIT and rng.chance(85):
        return HABIT[current]
    others = [p for p in PRESETS if p != current]
    return others[rng.next() % len(others)]


class Figures(msgspec.Struct, frozen=True):
    requests: int
    waited: int
    hits: tuple[int, int, int]
    rendered: int
    wasted: int
    accuracy: float | None

    @property
    def served(self) -> float:
        return 1.0 - self.waited / self.requests if self.requests else 0.0


class Run(msgspec.Struct, frozen=True):
    events: tuple[Recorded, ...]
    state: State
    figures: Figures


DEFAULT_RENDER_MS: Final[int] = 2_500


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


def _key(step: Step, state: State) -> ChunkKey:
    track = state.tracks[step.track]
    return ChunkKey(step.track, track.revision, step.preset, 5, step.index)


def run_projection(trace: Trace, render_ms: int = DEFAULT_RENDER_MS, fail_percent: int = 0) -> Run:
    """Play the trace through the fold, with one render worker taking the plan's first job."""
    rng = SplitMix(trace.seed ^ 0x5EED)
    out: list[Recorded] = []
    state = State()
    never = trace.end_ms + 1

    def emit(at: int, event: DomainEvent) -> None:
        nonlocal state
        recorded = Recorded(len(out) + 1, f"sim-{len(out) + 1}", at, at, event)
        state = evolve(state, recorded)
        out.append(recorded)

    for event in setup_events(trace):
        emit(0, event)
    order = [spec.track for spec in trace.library]
    busy: ChunkKey | None = None
    done_at, next_report, i = never, REPORT_MS, 0
    rendered: set[str] = set()
    requested: set[str] = set()
    while True:
        next_step = trace.steps[i].at if i < len(trace.steps) else never
        now = min(done_at, next_step, next_report)
        if now >= never:
            break
        if busy is not None and now == done_at:
            if fail_percent and rng.chance(fail_percent):
                emit(now, ChunkFailed(busy, "corrupt", "simulated"))
            else:
                track = state.tracks[busy.track]
                size = estimate_chunk_bytes(track, busy.index) * rng.uniform(85, 105) // 100
                path = f"chunks/{chunk_id(busy)}.flac"
                emit(now, ChunkRendered(busy, path, size, "sum", 0, render_ms))
                rendered.add(chunk_id(busy))
            busy, done_at = None, never
        elif now == next_step:
            step = trace.steps[i]
            i += 1
            if step.kind == "track":
                emit(now, TrackChanged(step.track, step.position_ms))
                following = order[(order.index(step.track) + 1) % len(order)]
                emit(now, NextTrackQueued(following))
            elif step.kind == "preset":
                emit(now, PresetChanged(step.preset))
            elif step.kind == "seek":
                emit(now, Seeked(step.position_ms))
            else:
                key = _key(step, state)
                requested.add(chunk_id(key))
                emit(now, ChunkRequested(key))
        else:
            playback = state.playback
            position = playback.position_at(now, state.duration_of(playback.track))
            emit(now, PositionReported(position))
            next_report += REPORT_MS
        cache = state.cache
        if busy is not None and chunk_id(busy) not in cache.wanted:
            if not (cache.waiting and cache.requested == busy):
                emit(now, ChunkFailed(busy, "cancelled", "no longer planned"))
                busy, done_at = None, never
        if busy is None and cache.plan:
            busy = state.cache.plan[0].key
            emit(now, ChunkQueued(busy))
            emit(now, ChunkRenderStarted(busy))
            done_at = now + render_ms
    stats = state.stats
    predictor = state.predictor
    accuracy = predictor.correct / predictor.predictions if predictor.predictions else None
    figures = Figures(
        stats.requests,
        stats.misses,
        (stats.hits_l1, stats.hits_l2, stats.hits_l3),
        len(rendered),
        len(rendered - requested),
        accuracy,
    )
    return Run(tuple(out), state, figures)
