"""Event time (`domain.timing`): no client's clock can freeze the projection or hold it back.

Each test gives events as (occurred_at, recorded_at, event): what the sender said and what the
store's clock said when it committed the event.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.events import (
    Event,
    MemoryPressureChanged,
    Paused,
    PositionReported,
    Recorded,
    TrackChanged,
)
from domain.policy import CLOCK_SKEW, audit_mark
from domain.projection import evolve, fold
from domain.state import State, decode_state, encode_state
from domain.timing import FUTURE_SKEW_MS, LATE_MS, event_time
from tests.domain.test_projection import added
from tests.support.strategies import T0, any_event, event_id, recorded_logs

YEAR_9999 = 253_402_300_799_999
HOUR = 3_600_000


def log_of(*timed: tuple[int, int, Event]) -> list[Recorded]:
    return [
        Recorded(seq, event_id(seq), occurred, recorded, event)
        for seq, (occurred, recorded, event) in enumerate(timed, start=1)
    ]


def playing(at: int = T0) -> list[tuple[int, int, Event]]:
    return [(at, at, added("t1", duration_ms=600_000)), (at, at, TrackChanged(track="t1"))]


def test_an_event_from_year_9999_does_not_freeze_the_clock() -> None:
    state = fold(log_of(*playing(), (YEAR_9999, T0 + 1_000, PositionReported(position_ms=1_000))))
    assert state.clock_ms == T0 + 1_000  # moved by what the store's clock moved
    assert state.clock_skewed == 1
    # honest reports after it are applied, not throttled, and the playhead follows them
    for i in range(1, 6):
        at = T0 + 1_000 + i * 200
        report = Recorded(state.seq + 1, "r", at, at, PositionReported(position_ms=1_000 + i * 200))
        state = evolve(state, report)
    assert state.policy.throttled == 0
    assert state.clock_ms == T0 + 2_000
    assert state.playback.position_at(state.clock_ms) == 2_000


def test_a_player_an_hour_behind_is_timed_by_the_store_and_not_throttled() -> None:
    events = playing()
    for i in range(1, 31):  # the service's facts at the real time, a report between each two
        real = T0 + i * 1_000
        events.append((real, real, MemoryPressureChanged(level="normal", used_fraction=0.5)))
        events.append((real + 500 - HOUR, real + 500, PositionReported(position_ms=i * 1_000)))
    state = fold(log_of(*events))
    assert state.policy.throttled == 0
    assert state.clock_skewed == 30
    assert state.clock_ms == T0 + 30_500
    assert state.playback.position_ms == 30_000
    assert state.playback.anchor_at == T0 + 30_500


def test_a_session_ingested_later_keeps_its_own_times() -> None:
    """All recorded at one moment a week later: every line plausible, timed by its `at`."""
    later = T0 + 7 * 24 * HOUR
    events = [(T0, later, added("t1")), (T0 + 10, later, TrackChanged(track="t1"))]
    events += [(T0 + 10 + i * 150, later, PositionReported(position_ms=i)) for i in range(1, 9)]
    state = fold(log_of(*events))
    assert state.clock_skewed == 0
    assert state.clock_ms == T0 + 10 + 8 * 150
    assert state.policy.throttled == 0
    # and the state does not depend on when it was ingested
    again = [(occurred, later + 3 * HOUR, event) for occurred, _, event in events]
    assert fold(log_of(*again)) == state


def test_a_small_step_back_keeps_the_clock_and_a_large_one_is_marked() -> None:
    start = fold(log_of(*playing(T0 + 60_000)))
    small = Recorded(3, "a", T0 + 60_000 - LATE_MS, T0 + 60_001, Paused())
    assert (evolve(start, small).clock_ms, evolve(start, small).clock_skewed) == (T0 + 60_000, 0)
    large = Recorded(3, "b", T0 + 60_000 - LATE_MS - 1, T0 + 61_000, Paused())
    after = evolve(start, large)
    assert (after.clock_ms, after.clock_skewed) == (T0 + 61_000, 1)
    assert audit_mark(start, large) == CLOCK_SKEW
    assert audit_mark(start, small) == ""


def test_a_skewed_report_inside_the_throttle_window_carries_both_marks() -> None:
    state = fold(log_of(*playing(), (T0 + 1_000, T0 + 1_000, PositionReported(position_ms=1))))
    report = Recorded(4, "c", YEAR_9999, T0 + 1_050, PositionReported(position_ms=2))
    assert audit_mark(state, report) == f"{CLOCK_SKEW}+throttled"


def test_without_a_live_event_a_skewed_one_keeps_the_projections_time() -> None:
    assert event_time(0, 0, YEAR_9999, T0) == (0, True, 0)
    assert event_time(0, 0, T0 + FUTURE_SKEW_MS, T0) == (T0 + FUTURE_SKEW_MS, False, T0)


@settings(max_examples=150, deadline=None)
@given(recorded_logs(max_size=60))
def test_when_occurred_is_recorded_the_rule_is_the_plain_monotonic_clock(
    log: list[Recorded],
) -> None:
    state = State()
    for recorded in log:
        after = evolve(state, recorded)
        assert after.clock_ms == max(state.clock_ms, recorded.occurred_at)
        state = after


@st.composite
def skewed_logs(draw: st.DrawFn) -> list[Recorded]:
    """Events whose senders' clocks are anything, recorded by a store clock that mostly moves
    forwards."""
    events = draw(st.lists(any_event, max_size=40))
    recorded_at, out = T0, []
    for seq, event in enumerate(events, start=1):
        recorded_at = max(0, recorded_at + draw(st.integers(-2_000, 60_000)))
        occurred = draw(
            st.one_of(
                st.integers(recorded_at - 10_000, recorded_at + 10_000),
                st.integers(0, YEAR_9999),
            )
        )
        out.append(Recorded(seq, event_id(seq), occurred, recorded_at, event))
    return out


@settings(max_examples=150, deadline=None)
@given(skewed_logs(), st.data())
def test_any_clocks_fold_deterministically_never_past_the_store_and_never_back(
    log: list[Recorded], data: st.DataObject
) -> None:
    state, latest = State(), 0
    for recorded in log:
        after = evolve(state, recorded)
        latest = max(latest, recorded.recorded_at)
        assert after.clock_ms >= state.clock_ms
        assert after.clock_ms <= max(state.clock_ms, latest + FUTURE_SKEW_MS)
        state = after
    cut = data.draw(st.integers(0, len(log)))
    head = decode_state(encode_state(fold(log[:cut])))
    assert fold(log[cut:], head) == fold(log) == state
