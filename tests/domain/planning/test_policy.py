"""Interaction policy: throttling, learning debounce, exploration, audit marks."""

from __future__ import annotations

from domain.events import PositionReported, PresetChanged, Seeked, TrackChanged
from domain.policy import audit_mark
from tests.domain.planning.given import Log, track_added


def playing() -> Log:
    log = Log()
    log.at(0, track_added("a"), track_added("b"), TrackChanged("a"))
    return log


def test_position_report_within_100ms_is_throttled_and_not_applied() -> None:
    log = playing()
    log.at(1_000, PositionReported(1_000))
    before = log.state
    marked = audit_mark(before, log.recorded(1_050, PositionReported(9_000)))
    state = log.at(1_050, PositionReported(9_000))
    assert marked == "throttled"
    assert state.playback.position_ms == 1_000
    assert state.policy.throttled == 1
    assert log.events[-1].event == PositionReported(9_000)  # stays in the log


def test_position_report_100ms_later_is_applied() -> None:
    log = playing()
    log.at(1_000, PositionReported(1_000))
    assert audit_mark(log.state, log.recorded(1_100, PositionReported(5_000))) == ""
    assert log.at(1_100, PositionReported(5_000)).playback.position_ms == 5_000


def test_preset_change_inside_a_throttle_window_takes_effect_at_once() -> None:
    log = playing()
    log.at(1_000, PositionReported(1_000))
    state = log.at(1_020, PresetChanged("warm"))
    assert state.playback.preset == "warm"
    assert state.cache.basis is not None and state.cache.basis.preset == "warm"
    assert state.cache.plan[0].key.preset == "warm"


def test_preset_change_learned_then_debounced_within_500ms() -> None:
    log = playing()
    log.at(10_000, PresetChanged("warm"))
    mark = audit_mark(log.state, log.recorded(10_300, PresetChanged("bright")))
    state = log.at(10_300, PresetChanged("bright"))
    assert state.playback.preset == "bright"
    assert mark == "not-learned"
    assert state.predictor.counts == {"adaptive": {"warm": 1}}
    state = log.at(10_900, PresetChanged("punchy"))
    assert state.predictor.counts == {"adaptive": {"warm": 1}, "bright": {"punchy": 1}}


def test_preset_change_before_any_track_is_not_learned() -> None:
    log = Log()
    state = log.at(0, PresetChanged("warm"))
    assert state.playback.preset == "warm"
    assert state.predictor.counts == {}


def test_ten_user_actions_within_a_second_are_exploration_and_learn_nothing() -> None:
    log = playing()
    log.at(5_000, PresetChanged("warm"))
    counts = log.state.predictor.counts
    presets = ("bright", "punchy", "gentle", "adaptive", "warm")
    marks = []
    for i in range(12):
        at = 6_000 + i * 60
        event = Seeked(i * 1_000) if i % 3 == 0 else PresetChanged(presets[i % 5])
        marks.append(audit_mark(log.state, log.recorded(at, event)))
        log.at(at, event)
    assert "exploring" in marks[9:]
    assert log.state.policy.exploring >= 3
    assert log.state.playback.preset == presets[11 % 5]
    learned_after_burst = {
        s: dict(t) for s, t in log.state.predictor.counts.items() if s not in counts
    }
    # only the burst's first preset change (≥ 500 ms after the last learned one) may be learned
    assert sum(sum(t.values()) for t in learned_after_burst.values()) <= 1


def test_position_reports_never_count_as_exploration() -> None:
    log = playing()
    for i in range(30):
        log.at(1_000 + i * 100, PositionReported(1_000 + i * 100))
    state = log.at(4_500, PresetChanged("warm"))
    assert state.policy.exploring == 0
    assert state.predictor.counts == {"adaptive": {"warm": 1}}


def test_track_change_is_never_throttled() -> None:
    log = playing()
    log.at(1_000, PositionReported(1_000))
    mark = audit_mark(log.state, log.recorded(1_010, TrackChanged("b", 5_000)))
    state = log.at(1_010, TrackChanged("b", 5_000))
    assert mark == ""
    assert state.playback.track == "b" and state.playback.position_ms == 5_000
