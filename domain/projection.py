"""The projection: a pure, total fold of recorded events into `State`.

`evolve` never raises on an event that does not apply (a deletion of an unknown track, a position
report with nothing playing): it counts it in `State.ignored` and leaves everything else alone.
Time inside the fold is each event's time by `domain.timing` (its own `occurred_at` when that is
plausible beside the store's `recorded_at`, else the store's clock), monotonic (`State.clock_ms`),
so no client's clock can freeze the state, hold it back or make the playhead run backwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from msgspec.structs import replace

from domain import chunks, habits, policy, predictor
from domain.events import (
    BudgetsSet,
    ChunkAnalysed,
    ChunkFailed,
    ChunkFileLost,
    ChunkQueued,
    ChunkRendered,
    ChunkRenderStarted,
    ChunkRequested,
    DomainEvent,
    IntensityChanged,
    MemoryPressureChanged,
    NextTrackQueued,
    Paused,
    PositionReported,
    PresetChanged,
    Recorded,
    Resumed,
    Seeked,
    Stopped,
    TrackAdded,
    TrackAnalysed,
    TrackChanged,
    TrackDeleted,
    TrackLevelled,
    TrackModified,
    TrackMoved,
)
from domain.plan import needs_replan, plan_holds, replan
from domain.state import Analysis, Level, Playback, Policy, State, Track
from domain.timing import event_time

_SKIP_MARGIN_MS = 2_000


def quantise_intensity(intensity: float) -> int:
    """Intensity in [0, 1] to tenths (DESIGN §1: chunk keys use intensity quantised to 0.1)."""
    tenths = int(intensity * 10.0 + 0.5 + 1e-9)
    return min(10, max(0, tenths))


def _ignored(state: State) -> State:
    return replace(state, ignored=state.ignored + 1)


def _track_upserted(state: State, event: TrackAdded | TrackModified, now: int) -> State:
    known = state.tracks.get(event.track)
    if known is not None and known.fingerprint == event.fingerprint and known.path == event.path:
        return _ignored(state)
    if known is not None:
        revision = known.revision + 1
    else:  # a track deleted and added again continues after its last revision
        retired = state.retired.get(event.track)
        revision = 0 if retired is None else retired + 1
    track = Track(
        path=event.path,
        fingerprint=event.fingerprint,
        duration_ms=event.duration_ms,
        sample_rate=event.sample_rate,
        channels=event.channels,
        revision=revision,
    )
    after = replace(state, tracks=state.tracks.set(event.track, track))
    playback = state.playback
    if playback.track == event.track and playback.position_ms > event.duration_ms:
        after = replace(after, playback=replace(playback, position_ms=event.duration_ms))
    if known is None:
        return replan(after, now) if event.track == state.cache.next_track else after
    return replan(chunks.forget_track(after, event.track, revision), now)


def _track_moved(state: State, event: TrackMoved, now: int) -> State:
    known = state.tracks.get(event.track)
    if known is None:
        return _ignored(state)
    return replace(state, tracks=state.tracks.set(event.track, replace(known, path=event.path)))


def _track_deleted(state: State, event: TrackDeleted, now: int) -> State:
    known = state.tracks.get(event.track)
    if known is None:
        return _ignored(state)
    tracks = state.tracks.delete(event.track)
    retired = state.retired.set(event.track, known.revision)
    playback = state.playback
    if playback.track == event.track:
        playback = replace(playback, track=None, status="stopped", position_ms=0, anchor_at=now)
    after = replace(state, tracks=tracks, retired=retired, playback=playback)
    return replan(chunks.forget_track(after, event.track, None), now)


def _track_levelled(state: State, event: TrackLevelled, now: int) -> State:
    """The first level recorded for a revision is the one every chunk uses; later ones (a
    second render that measured the same file at the same time) change nothing."""
    known = state.tracks.get(event.track)
    if known is None or known.revision != event.revision or known.level is not None:
        return _ignored(state)
    level = Level(event.loudness_db, event.peak)
    return replace(state, tracks=state.tracks.set(event.track, replace(known, level=level)))


def _track_analysed(state: State, event: TrackAnalysed, now: int) -> State:
    """The whole track measured; the frames that really decode correct the track's length (a
    header may only estimate it, and a damaged file decodes less than it claims)."""
    known = state.tracks.get(event.track)
    if known is None or known.revision != event.revision:
        return _ignored(state)
    analysis = Analysis(event.loudness_db, event.peak, event.frames, event.neutral_reason)
    track = replace(known, analysis=analysis)
    if event.frames > 0:
        track = replace(track, duration_ms=event.frames * 1000 // known.sample_rate)
    after = replace(state, tracks=state.tracks.set(event.track, track))
    playback = state.playback
    if track.duration_ms == known.duration_ms or playback.track != event.track:
        return after
    if playback.position_ms > track.duration_ms:
        after = replace(after, playback=replace(playback, position_ms=track.duration_ms))
    return replan(after, now)


def _track_changed(state: State, event: TrackChanged, now: int) -> State:
    duration = state.duration_of(event.track)
    position = event.position_ms if duration is None else min(event.position_ms, duration)
    before = state.playback
    playback = replace(
        before,
        track=event.track,
        status="playing",
        position_ms=position,
        anchor_at=now,
        listened_ms=_listened(state, now),
    )
    rules, _ = policy.user_action(state.policy, now)
    learned = state.predictor
    left_early = False
    if before.track is not None and before.status != "stopped":
        left_early = before.position_at(now) + _SKIP_MARGIN_MS < (
            state.duration_of(before.track) or 0
        )
        learned = replace(
            learned,
            track_changes=learned.track_changes + 1,
            skips=learned.skips + left_early,
        )
    learned = habits.chunk_ended(learned, skip=left_early)
    cache = state.cache
    if cache.waiting and cache.requested is not None and cache.requested.track != event.track:
        cache = replace(cache, waiting=False)
    return replace(state, playback=playback, policy=rules, cache=cache, predictor=learned)


def _listened(state: State, now: int) -> int:
    """The listening clock at `now` (`Playback.listened_at`)."""
    playback = state.playback
    if playback.track is None:
        return playback.listened_ms
    return playback.listened_at(now, state.duration_of(playback.track))


def _moved_playback(
    state: State, position_ms: int, now: int, *, seek: bool = False
) -> Playback | None:
    """The playback with its playhead set to `position_ms` at `now` (None: nothing plays). A
    position report says how much was played since the anchor; a seek jumps, and only what
    played before it counts as listened."""
    playback = state.playback
    if playback.track is None:
        return None
    return _moved(playback, state.duration_of(playback.track), position_ms, now, seek=seek)


def _moved(
    playback: Playback, duration: int | None, position_ms: int, now: int, *, seek: bool = False
) -> Playback:
    """`_moved_playback` given the playing track's duration (None: not known)."""
    if duration is not None and position_ms > duration:
        position_ms = duration
    if seek:
        listened = playback.listened_at(now, duration)
    else:
        listened = playback.listened_ms + max(0, position_ms - playback.position_ms)
    return replace(playback, position_ms=position_ms, anchor_at=now, listened_ms=listened)


def _moved_playhead(state: State, position_ms: int, now: int) -> State:
    playback = _moved_playback(state, position_ms, now, seek=True)
    return _ignored(state) if playback is None else replace(state, playback=playback)


def _position_reported(state: State, event: PositionReported, now: int) -> State:
    rules = state.policy
    if policy.is_throttled(rules, now):
        return replace(state, policy=policy.position_throttled(rules))
    playback = _moved_playback(state, event.position_ms, now)
    applied = policy.position_applied(rules, now)
    if playback is None:
        return replace(state, policy=applied, ignored=state.ignored + 1)
    return replace(state, playback=playback, policy=applied)


def _position_unplanned(
    state: State, event: PositionReported, now: int
) -> tuple[Playback, Policy] | None:
    """The hot path of a listening log (a player reports ten times a second): the playback and
    policy after a report that moves a known track's playhead without touching the plan, found
    with one lookup of the track; None for every other case, which `evolve` takes the long way.
    Both ways give the same state."""
    playback = state.playback
    rules = state.policy
    if playback.track is None or policy.is_throttled(rules, now):
        return None
    track = state.tracks.get(playback.track)
    if track is None:
        return None
    moved = _moved(playback, track.duration_ms, event.position_ms, now)
    if not plan_holds(state.cache, moved, track, now):
        return None
    return moved, policy.position_applied(rules, now)


def _seeked(state: State, event: Seeked, now: int) -> State:
    rules, _ = policy.user_action(state.policy, now)
    learned = state.predictor
    if state.playback.track is not None:
        learned = habits.chunk_ended(learned, seek=True)
    moved = _moved_playhead(state, event.position_ms, now)
    return replace(moved, policy=rules, predictor=learned)


def _preset_changed(state: State, event: PresetChanged, now: int) -> State:
    """Takes effect at once, always; learned only as the interaction policy allows."""
    playback = state.playback
    decision = policy.preset_changed(
        state.policy,
        now,
        playing=playback.track is not None,
        changes=event.preset != playback.preset,
    )
    learned = state.predictor
    if playback.track is not None and event.preset != playback.preset:
        learned = habits.switched(learned, decision.policy, now, _listened(state, now))
    if decision.learn:
        learned = predictor.learn(learned, playback.preset, event.preset, now)
    return replace(
        state,
        playback=replace(playback, preset=event.preset),
        policy=decision.policy,
        predictor=learned,
    )


def _intensity_changed(state: State, event: IntensityChanged, now: int) -> State:
    tenths = quantise_intensity(event.intensity)
    return replace(state, playback=replace(state.playback, intensity_tenths=tenths))


def _paused(state: State, event: Paused, now: int) -> State:
    playback = state.playback
    if playback.status != "playing":
        return _ignored(state)
    position = playback.position_at(now, state.duration_of(playback.track))
    listened = _listened(state, now)
    paused = replace(
        playback, status="paused", position_ms=position, anchor_at=now, listened_ms=listened
    )
    return replace(state, playback=paused)


def _resumed(state: State, event: Resumed, now: int) -> State:
    playback = state.playback
    if playback.status != "paused":
        return _ignored(state)
    return replace(state, playback=replace(playback, status="playing", anchor_at=now))


def _stopped(state: State, event: Stopped, now: int) -> State:
    playback = state.playback
    if playback.status == "stopped":
        return _ignored(state)
    listened = _listened(state, now)
    stopped = replace(
        playback, status="stopped", position_ms=0, anchor_at=now, listened_ms=listened
    )
    return replace(state, playback=stopped)


_Handler = Callable[[State, Any, int], State]

_HANDLERS: dict[type, _Handler] = {
    TrackAdded: _track_upserted,
    TrackModified: _track_upserted,
    TrackMoved: _track_moved,
    TrackDeleted: _track_deleted,
    TrackLevelled: _track_levelled,
    TrackAnalysed: _track_analysed,
    TrackChanged: _track_changed,
    PositionReported: _position_reported,
    Seeked: _seeked,
    PresetChanged: _preset_changed,
    IntensityChanged: _intensity_changed,
    Paused: _paused,
    Resumed: _resumed,
    Stopped: _stopped,
    NextTrackQueued: chunks.next_track_queued,
    ChunkRequested: chunks.chunk_requested,
    ChunkQueued: chunks.chunk_started,
    ChunkRenderStarted: chunks.chunk_started,
    ChunkRendered: chunks.chunk_rendered,
    ChunkFailed: chunks.chunk_failed,
    ChunkFileLost: chunks.chunk_file_lost,
    ChunkAnalysed: chunks.chunk_analysed,
    BudgetsSet: chunks.budgets_set,
    MemoryPressureChanged: chunks.pressure_changed,
}


def evolve(state: State, recorded: Recorded) -> State:
    """The state after one more event. Pure and total."""
    now, skewed, reference = event_time(
        state.clock_ms, state.recorded_ms, recorded.occurred_at, recorded.recorded_at
    )
    event: DomainEvent = recorded.event
    if type(event) is PositionReported and not skewed and not state.cache.discarded:
        quick = _position_unplanned(state, event, now)
        if quick is not None:
            playback, rules = quick
            return replace(
                state,
                playback=playback,
                policy=rules,
                seq=recorded.seq,
                clock_ms=now,
                recorded_ms=reference,
            )
    return evolve_slowly(state, recorded, now, skewed, reference)


def evolve_slowly(
    state: State, recorded: Recorded, now: int, skewed: bool, reference: int
) -> State:
    """`evolve` without its shortcut for position reports, given the event's time
    (`domain.timing.event_time`): every event's way, and the reference the shortcut must equal."""
    event: DomainEvent = recorded.event
    if state.cache.discarded:
        state = replace(state, cache=replace(state.cache, discarded=()))
    handler = _HANDLERS.get(type(event))
    after = _ignored(state) if handler is None else handler(state, event, now)
    if needs_replan(after, now):
        after = replan(after, now)
    if skewed:
        return replace(
            after,
            seq=recorded.seq,
            clock_ms=now,
            recorded_ms=reference,
            clock_skewed=after.clock_skewed + 1,
        )
    return replace(after, seq=recorded.seq, clock_ms=now, recorded_ms=reference)


def fold(events: Iterable[Recorded], state: State | None = None) -> State:
    """`evolve` over every event, from `state` (the empty state by default)."""
    current = State() if state is None else state
    for recorded in events:
        current = evolve(current, recorded)
    return current
