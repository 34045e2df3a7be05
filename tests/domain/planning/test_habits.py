"""The listener's habits are measured in listening time: the clock stops while paused, and a
player faster than event time is measured at its own pace."""

from __future__ import annotations

from domain.events import Paused, PositionReported, PresetChanged, Resumed, Seeked, TrackChanged
from tests.domain.planning.given import Log, track_added

HOUR = 3_600_000


def playing() -> Log:
    log = Log()
    log.at(0, track_added("a", HOUR), track_added("b", HOUR), TrackChanged("a"))
    return log


def test_the_listening_clock_runs_with_the_playhead_and_stops_while_paused() -> None:
    log = playing()
    log.at(10_000, PositionReported(position_ms=10_000))
    log.at(20_000, Paused())
    state = log.at(320_000, Resumed())  # five minutes away
    assert state.playback.listened_at(320_000) == 20_000
    assert state.playback.listened_at(330_000) == 30_000


def test_a_seek_counts_what_was_played_before_it_not_the_jump() -> None:
    log = playing()
    state = log.at(15_000, Seeked(position_ms=600_000))
    assert state.playback.listened_at(15_000) == 15_000
    state = log.at(20_000, TrackChanged("b"))
    assert state.playback.listened_at(20_000) == 20_000


def test_gaps_between_switches_are_listening_time_at_the_players_pace() -> None:
    log = playing()
    for n in range(1, 5):  # a switch every 60 s of audio, played at twice the speed
        log.at(n * 30_000 - 1, PositionReported(position_ms=n * 60_000 - 2))
        log.at(n * 30_000, PresetChanged("warm" if n % 2 else "bright"))
    gaps = log.state.predictor.gaps
    assert len(gaps) == 3 and all(59_000 <= gap <= 61_000 for gap in gaps)


def test_a_pause_between_switches_is_not_part_of_the_gap() -> None:
    log = playing()
    log.at(40_000, PresetChanged("warm"))
    log.at(60_000, Paused())
    log.at(660_000, Resumed())  # ten minutes away
    state = log.at(700_000, PresetChanged("bright"))
    assert state.predictor.gaps == (60_000,)
