"""Properties of the fold over arbitrary logs: split, snapshot round trip, totality, purity."""

from __future__ import annotations

import anyio
import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.events import (
    PRESETS,
    DomainEvent,
    Paused,
    PositionReported,
    PresetChanged,
    Recorded,
    Seeked,
    TrackChanged,
)
from domain.projection import _position_unplanned, evolve, evolve_slowly, fold
from domain.state import State, decode_state, encode_state, state_hash
from domain.timing import event_time
from storage.memory_store import InMemoryEventStore
from storage.projector import load_state, replay
from storage.snapshots import InMemorySnapshotStore
from tests.support.clock import FixedClock
from tests.support.events import T0, new_id, track_added
from tests.support.strategies import (
    any_event,
    as_new,
    interaction_events,
    library_events,
    recorded_logs,
    split_logs,
)

PROPERTY = settings(max_examples=150, deadline=None)
SOME = settings(max_examples=100, deadline=None)
MOVES_PLAYHEAD = (TrackChanged, PositionReported, Seeked, Paused)


@PROPERTY
@given(split_logs())
def test_fold_of_a_concatenation_is_a_fold_of_the_tail_from_the_head(
    halves: tuple[list[Recorded], list[Recorded]],
) -> None:
    a, b = halves
    assert fold(a + b) == fold(b, fold(a))


@PROPERTY
@given(recorded_logs(max_size=60))
def test_state_round_trips_through_its_canonical_bytes(log: list[Recorded]) -> None:
    states = [State()]
    for recorded in log:
        states.append(evolve(states[-1], recorded))
    for state in states:
        data = encode_state(state)
        again = decode_state(data)
        assert again == state
        assert encode_state(again) == data


@PROPERTY
@given(split_logs())
def test_snapshot_plus_tail_hashes_like_a_full_fold(
    halves: tuple[list[Recorded], list[Recorded]],
) -> None:
    a, b = halves
    restored = decode_state(encode_state(fold(a)))
    assert state_hash(fold(b, restored)) == state_hash(fold(a + b))


@PROPERTY
@given(st.lists(any_event, max_size=50), st.lists(st.integers(0, 2**63 - 1), max_size=50))
def test_evolve_never_raises(events: list[object], times: list[int]) -> None:
    """Any event at any time (including out of order and at the int64 edge) folds."""
    state = State()
    for seq, (event, at) in enumerate(zip(events, times, strict=False), start=1):
        state = evolve(state, Recorded(seq, "id", at, at, event))  # type: ignore[arg-type]
    assert state.seq == min(len(events), len(times))
    state_hash(state)


@PROPERTY
@given(recorded_logs(max_size=40), st.data())
def test_evolve_does_not_mutate_its_input(log: list[Recorded], data: st.DataObject) -> None:
    state = fold(log)
    before = encode_state(state)
    following = data.draw(recorded_logs(max_size=10))
    for recorded in following:
        shifted = Recorded(
            state.seq + recorded.seq,
            recorded.event_id,
            recorded.occurred_at,
            recorded.recorded_at,
            recorded.event,
        )
        evolve(state, shifted)
    assert encode_state(state) == before


@SOME
@given(recorded_logs(st.one_of(library_events, interaction_events), max_size=60))
def test_playback_invariants(log: list[Recorded]) -> None:
    """Counters add up and the clock never goes back, whatever the order of times."""
    state = State()
    for recorded in log:
        after = evolve(state, recorded)
        assert after.seq == recorded.seq
        assert after.clock_ms == max(state.clock_ms, recorded.occurred_at)
        assert after.ignored in (state.ignored, state.ignored + 1)
        assert 0 <= after.playback.intensity_tenths <= 10
        if after.playback.track is None:
            assert after.playback.status == "stopped"
        duration = after.duration_of(after.playback.track)
        if isinstance(recorded.event, MOVES_PLAYHEAD) and duration is not None:
            assert after.playback.position_ms <= duration
        state = after


@SOME
@given(split_logs(max_size=40), st.booleans())
def test_load_state_from_a_snapshot_plus_tail_equals_a_full_replay(
    halves: tuple[list[Recorded], list[Recorded]], corrupt_newer: bool
) -> None:
    a, b = halves

    async def check() -> None:
        nonlocal a, b
        events = InMemoryEventStore(clock=FixedClock())
        assert await events.append(as_new(a + b)) == [r.seq for r in a + b]
        stored = [r async for r in events.read()]  # as the store recorded them
        a, b = stored[: len(a)], stored[len(a) :]
        snapshots = InMemorySnapshotStore(events)
        await snapshots.save(fold(a), created_at=1)
        if corrupt_newer and b:
            # a newer snapshot whose bytes fail their hash is skipped, not trusted
            await snapshots.save(fold(a + b[:1]), created_at=2)
            bad = snapshots.rows[-1]
            snapshots.rows[-1] = msgspec.structs.replace(bad, state=bad.state + b" ")
        loaded = await load_state(events, snapshots)
        full = await replay(events)
        assert loaded.state == full
        assert state_hash(loaded.state) == state_hash(full)
        assert loaded.snapshot_seq == len(a)
        assert loaded.replayed == len(b)
        assert len(loaded.skipped) == (1 if corrupt_newer and b else 0)
        assert full == fold(a + b)

    anyio.run(check, backend="asyncio")


def _both_ways(log: list[Recorded]) -> tuple[int, int]:
    """Fold `log` comparing each step of `evolve` with `evolve_slowly` on the same state;
    (position reports, of which taken by the shortcut)."""
    state, reports, short = State(), 0, 0
    for recorded in log:
        now, skewed, reference = event_time(
            state.clock_ms, state.recorded_ms, recorded.occurred_at, recorded.recorded_at
        )
        slow = evolve_slowly(state, recorded, now, skewed, reference)
        fast = evolve(state, recorded)
        assert encode_state(fast) == encode_state(slow), f"differs at seq {recorded.seq}"
        if isinstance(recorded.event, PositionReported):
            reports += 1
            short += _position_unplanned(state, recorded.event, now) is not None
        state = fast
    return reports, short


@PROPERTY
@given(recorded_logs(st.one_of(library_events, interaction_events), max_size=80))
def test_the_position_shortcut_gives_the_state_the_long_way_gives(log: list[Recorded]) -> None:
    _both_ways(log)


def _listening(count: int) -> list[Recorded]:
    """A listening log like the benchmarks': three tracks, then the player's position feed at
    10 Hz with a seek a minute, a preset change every 30 s and a track change every 4 min."""
    events: list[DomainEvent] = [track_added(f"t{i}", duration_ms=240_000) for i in range(3)]
    for n in range(count):
        position = (n % 2_400) * 100
        if n % 2_400 == 0:
            events.append(TrackChanged(track=f"t{(n // 2_400) % 3}"))
        elif n % 300 == 150:
            events.append(PresetChanged(preset=PRESETS[(n // 300) % 5]))
        elif n % 600 == 450:
            events.append(Seeked(position_ms=(position + 30_000) % 240_000))
        else:
            events.append(PositionReported(position_ms=position))
    return [
        Recorded(seq, new_id(), T0 + seq * 100, T0 + seq * 100, event)
        for seq, event in enumerate(events, start=1)
    ]


def test_the_position_shortcut_on_a_listening_log() -> None:
    """The shortcut takes most reports of a listening log and agrees with the long way on
    every one."""
    reports, short = _both_ways(_listening(6_000))
    assert reports > 5_000
    assert short > 0.9 * reports
