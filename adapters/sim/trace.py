"""Listening traces: what a listener does and what the player asks for, in virtual time.

A listener profile produces a script of interactions (track changes, preset switches, seeks), the
player's position reports (every `REPORT_MS`) and its chunk requests (at every chunk boundary and
after every interaction). Pure and seeded: the randomness is a small splitmix64 generator, so a
trace is the same on every Python and machine. The simulator plays a trace through the fold; the
end-to-end benchmark plays the same trace against the running service over HTTP.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from adapters.errors import AdapterError
from domain.events import PRESETS, Preset
from domain.tiers import CHUNK_MS

PROFILES: Final[tuple[str, ...]] = ("steady", "habitual", "explorer", "seeker", "skipper", "mixed")
HABIT: Final[dict[Preset, Preset]] = {"adaptive": "warm", "warm": "bright", "bright": "adaptive"}
REPORT_MS: Final[int] = 1_000  # how often the player says where it is
_MASK: Final[int] = (1 << 64) - 1

Kind = Literal["track", "preset", "seek", "request", "position"]


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


def script(
    profile: str, seed: int, minutes: int = 30, tracks: tuple[TrackSpec, ...] | None = None
) -> Trace:
    """The listener's interactions and the player's requests and position reports, in virtual
    time, over `tracks` (a generated library of 40 by default) played in order."""
    if profile not in PROFILES:
        raise UnknownProfileError(profile)
    rng = SplitMix(seed * 1_000_003 + PROFILES.index(profile))
    generated = library(rng)
    tracks = generated if tracks is None else tracks
    if not tracks:
        raise UnknownProfileError(profile)  # pragma: no cover - callers pass a library
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
    steps = [s for s in steps if s.at <= end]
    return Trace(profile, seed, tracks, _with_reports(steps, tracks, end), end)


def _with_reports(steps: list[Step], tracks: tuple[TrackSpec, ...], end: int) -> tuple[Step, ...]:
    """The steps with a position report every `REPORT_MS`, where the player is then."""
    durations = {t.track: t.duration_ms for t in tracks}
    out: list[Step] = []
    track, position, started = "", 0, 0
    report = REPORT_MS
    for step in steps:
        while report < step.at:
            if track:
                out.append(
                    Step(
                        report,
                        "position",
                        track,
                        position_ms=_at(position, started, report, durations[track]),
                    )
                )
            report += REPORT_MS
        if step.kind == "track":
            track, position, started = step.track, step.position_ms, step.at
        elif step.kind == "seek":
            position, started = step.position_ms, step.at
        out.append(step)
    while report <= end and track:
        out.append(
            Step(
                report,
                "position",
                track,
                position_ms=_at(position, started, report, durations[track]),
            )
        )
        report += REPORT_MS
    return tuple(out)


def _at(position: int, started: int, now: int, duration: int) -> int:
    return min(duration, position + (now - started))


def _next_preset(rng: SplitMix, current: Preset, mode: str) -> Preset:
    if mode == "habitual" and current in HABIT and rng.chance(85):
        return HABIT[current]
    others = [p for p in PRESETS if p != current]
    return others[rng.next() % len(others)]
