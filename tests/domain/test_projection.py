"""Given these events, when this one is folded, then the library and playback look like this.

Only the playback and library rules are checked here, through the public state (`tracks`,
`playback`, `ignored`, `clock_ms`, `seq`), so the tests hold while the state grows.
"""

from __future__ import annotations

import msgspec
import pytest

from domain.events import (
    Event,
    Fingerprint,
    IntensityChanged,
    Paused,
    PositionReported,
    PresetChanged,
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
from domain.projection import evolve, fold
from domain.state import Analysis, Level, State, encode_state
from tests.support.strategies import T0, recorded

FP_A = Fingerprint(size=1000, mtime_ns=1, content_hash="a")
FP_B = Fingerprint(size=1001, mtime_ns=2, content_hash="b")


def added(track: str = "t1", *, duration_ms: int = 200_000, fp: Fingerprint = FP_A) -> TrackAdded:
    return TrackAdded(
        track=track,
        path=f"lib/{track}.flac",
        fingerprint=fp,
        duration_ms=duration_ms,
        sample_rate=44_100,
        channels=2,
    )


def modified(
    track: str = "t1", *, duration_ms: int = 200_000, fp: Fingerprint = FP_B, path: str = ""
) -> TrackModified:
    return TrackModified(
        track=track,
        path=path or f"lib/{track}.flac",
        fingerprint=fp,
        duration_ms=duration_ms,
        sample_rate=48_000,
        channels=2,
    )


def given(*events: Event | tuple[int, Event]) -> State:
    """Fold events; a bare event happens 1 s after the previous one (the first at T0)."""
    return fold(recorded(_timed(events)))


def _timed(events: tuple[Event | tuple[int, Event], ...]) -> list[tuple[int, Event]]:
    timed, now = [], T0 - 1000
    for item in events:
        if isinstance(item, tuple):
            now, event = item
        else:
            now, event = now + 1000, item
        timed.append((now, event))
    return timed


def when(state: State, event: Event, at: int | None = None) -> State:
    """Evolve `state` by one event at `at` (default: 1 s after the state's clock)."""
    occurred = state.clock_ms + 1000 if at is None else at
    (rec,) = recorded([(occurred, event)], first_seq=state.seq + 1)
    return evolve(state, rec)


# --- library ----------------------------------------------------------------------------------


def test_track_added_enters_the_library_at_revision_zero() -> None:
    state = given(added("t1", duration_ms=123_000))
    track = state.tracks["t1"]
    assert (track.path, track.fingerprint, track.duration_ms) == ("lib/t1.flac", FP_A, 123_000)
    assert (track.sample_rate, track.channels, track.revision) == (44_100, 2, 0)
    assert state.ignored == 0
    assert state.seq == 1


def test_track_modified_with_a_new_fingerprint_bumps_the_revision() -> None:
    state = given(added("t1"))
    then = when(state, modified("t1", fp=FP_B, duration_ms=150_000))
    track = then.tracks["t1"]
    assert track.revision == 1
    assert track.fingerprint == FP_B
    assert (track.duration_ms, track.sample_rate) == (150_000, 48_000)
    assert then.ignored == state.ignored
    again = when(then, modified("t1", fp=FP_A))
    assert again.tracks["t1"].revision == 2


def test_track_added_again_with_a_new_fingerprint_is_a_modification() -> None:
    state = given(added("t1"), added("t1", fp=FP_B))
    assert state.tracks["t1"].revision == 1


@pytest.mark.parametrize("again", [added("t1"), modified("t1", fp=FP_A)], ids=["added", "modified"])
def test_same_fingerprint_and_path_is_a_no_op_counted_as_ignored(again: Event) -> None:
    state = given(added("t1"))
    then = when(state, again)
    assert then.tracks == state.tracks
    assert then.ignored == state.ignored + 1
    assert then.seq == state.seq + 1


def test_track_modified_of_an_unknown_track_adds_it() -> None:
    state = given(modified("new", fp=FP_B))
    assert state.tracks["new"].revision == 0
    assert state.ignored == 0


def test_track_moved_changes_only_the_path() -> None:
    state = given(added("t1"))
    then = when(state, TrackMoved(track="t1", path="moved/t1.flac"))
    assert then.tracks["t1"].path == "moved/t1.flac"
    assert msgspec.structs.replace(then.tracks["t1"], path="lib/t1.flac") == state.tracks["t1"]
    assert then.ignored == state.ignored


def test_track_moved_or_deleted_when_unknown_is_ignored() -> None:
    state = given(added("t1"))
    moved = when(state, TrackMoved(track="ghost", path="x.flac"))
    deleted = when(moved, TrackDeleted(track="ghost"))
    assert deleted.tracks == state.tracks
    assert deleted.ignored == state.ignored + 2


def test_track_deleted_leaves_the_library_and_playback_of_another_track_alone() -> None:
    state = given(added("t1"), added("t2"), TrackChanged(track="t2", position_ms=5_000))
    then = when(state, TrackDeleted(track="t1"))
    assert set(then.tracks) == {"t2"}
    assert then.playback == state.playback


def test_deleting_the_current_track_stops_playback() -> None:
    state = given(added("t1"), TrackChanged(track="t1", position_ms=5_000))
    assert state.playback.status == "playing"
    then = when(state, TrackDeleted(track="t1"))
    assert "t1" not in then.tracks
    assert then.playback.track is None
    assert then.playback.status == "stopped"
    assert then.playback.position_ms == 0
    assert then.playback.preset == state.playback.preset


def test_a_deleted_track_added_again_continues_after_its_last_revision() -> None:
    """A render started before the delete must never land on the new file's chunks."""
    state = given(added("t1"), modified("t1"), TrackDeleted(track="t1"), added("t1"))
    assert state.tracks["t1"].revision == 2
    again = when(when(state, TrackDeleted(track="t1")), added("t1"))
    assert again.tracks["t1"].revision == 3


def test_the_first_level_of_a_revision_is_kept_and_every_later_one_ignored() -> None:
    state = given(added("t1"), TrackLevelled(track="t1", revision=0, loudness_db=-9.0, peak=1.0))
    assert state.tracks["t1"].level == Level(-9.0, 1.0)
    later = when(state, TrackLevelled(track="t1", revision=0, loudness_db=-20.0, peak=0.5))
    assert later.tracks["t1"].level == Level(-9.0, 1.0) and later.ignored == state.ignored + 1
    stale = when(state, TrackLevelled(track="t1", revision=1, loudness_db=-20.0, peak=0.5))
    assert stale.ignored == state.ignored + 1
    assert when(state, modified("t1")).tracks["t1"].level is None  # a new revision: measure again


def test_an_analysis_corrects_the_length_the_header_estimated() -> None:
    state = given(added("t1"), TrackChanged(track="t1", position_ms=190_000))
    assert state.tracks["t1"].duration_ms == 200_000
    frames = 150 * 44_100  # the file really decodes 150 s
    then = when(state, TrackAnalysed("t1", 0, -12.0, 0.9, frames))
    assert then.tracks["t1"].duration_ms == 150_000
    assert then.tracks["t1"].analysis == Analysis(-12.0, 0.9, frames)
    assert then.playback.position_ms == 150_000


# --- track changes and the playhead -----------------------------------------------------------


def test_track_changed_starts_playing_at_the_given_position() -> None:
    state = given(added("t1"), (T0 + 5000, TrackChanged(track="t1", position_ms=30_000)))
    assert state.playback.track == "t1"
    assert state.playback.status == "playing"
    assert state.playback.position_ms == 30_000
    assert state.playback.anchor_at == T0 + 5000


def test_track_changed_position_is_clamped_to_the_duration() -> None:
    state = given(added("t1", duration_ms=60_000), TrackChanged(track="t1", position_ms=90_000))
    assert state.playback.position_ms == 60_000


def test_track_changed_to_an_unknown_track_plays_it_unclamped() -> None:
    state = given(TrackChanged(track="not-yet-scanned", position_ms=90_000))
    assert state.playback.track == "not-yet-scanned"
    assert state.playback.position_ms == 90_000
    assert state.ignored == 0


@pytest.mark.parametrize("move", [PositionReported(position_ms=1), Seeked(position_ms=1)])
def test_playhead_moves_are_ignored_with_no_track(move: Event) -> None:
    state = given(PresetChanged(preset="warm"))
    then = when(state, move)
    assert then.playback == state.playback
    assert then.ignored == state.ignored + 1


@pytest.mark.parametrize("cls", [PositionReported, Seeked])
def test_playhead_moves_set_the_position_at_event_time(
    cls: type[PositionReported] | type[Seeked],
) -> None:
    state = given(added("t1"), TrackChanged(track="t1"))
    then = when(state, cls(position_ms=42_000), at=T0 + 50_000)
    assert then.playback.position_ms == 42_000
    assert then.playback.anchor_at == T0 + 50_000
    assert then.playback.status == "playing"
    assert then.ignored == state.ignored


def test_seek_past_the_end_is_clamped_to_the_duration() -> None:
    state = given(added("t1", duration_ms=60_000), TrackChanged(track="t1"))
    assert when(state, Seeked(position_ms=61_000)).playback.position_ms == 60_000


def test_seek_while_paused_stays_paused() -> None:
    state = given(added("t1"), TrackChanged(track="t1"), Paused())
    then = when(state, Seeked(position_ms=7_000))
    assert (then.playback.status, then.playback.position_ms) == ("paused", 7_000)


# --- pause, resume, stop ------------------------------------------------------------------------


def test_position_advances_only_while_playing() -> None:
    state = given(
        added("t1"),
        (T0 + 10_000, TrackChanged(track="t1", position_ms=1_000)),
        (T0 + 25_000, Paused()),
    )
    assert state.playback.status == "paused"
    assert state.playback.position_ms == 16_000  # 1 s + 15 s played
    # paused for a minute: the playhead does not move
    assert state.playback.position_at(T0 + 85_000) == 16_000
    resumed = when(state, Resumed(), at=T0 + 85_000)
    assert resumed.playback.status == "playing"
    assert resumed.playback.position_at(T0 + 95_000) == 26_000
    paused = when(resumed, Paused(), at=T0 + 100_000)
    assert paused.playback.position_ms == 31_000


def test_pause_position_is_clamped_to_the_duration() -> None:
    state = given(
        added("t1", duration_ms=20_000),
        (T0 + 10_000, TrackChanged(track="t1", position_ms=15_000)),
        (T0 + 60_000, Paused()),
    )
    assert state.playback.position_ms == 20_000


def test_stopped_rewinds_and_keeps_the_track() -> None:
    state = given(added("t1"), TrackChanged(track="t1", position_ms=9_000))
    then = when(state, Stopped())
    assert then.playback.status == "stopped"
    assert then.playback.position_ms == 0
    assert then.playback.track == "t1"
    assert then.playback.position_at(then.clock_ms + 60_000) == 0


@pytest.mark.parametrize(
    ("history", "event"),
    [
        ((), Paused()),
        ((), Resumed()),
        ((), Stopped()),
        ((TrackChanged(track="t1"),), Resumed()),
        ((TrackChanged(track="t1"), Paused()), Paused()),
        ((TrackChanged(track="t1"), Stopped()), Stopped()),
        ((TrackChanged(track="t1"), Stopped()), Paused()),
    ],
    ids=[
        "pause-stopped",
        "resume-stopped",
        "stop-stopped",
        "resume-playing",
        "pause-paused",
        "stop-stopped-again",
        "pause-stopped-track",
    ],
)
def test_transitions_that_do_not_apply_are_ignored(
    history: tuple[Event, ...], event: Event
) -> None:
    state = given(added("t1"), *history)
    then = when(state, event)
    assert then.playback == state.playback
    assert then.tracks == state.tracks
    assert then.ignored == state.ignored + 1
    assert then.seq == state.seq + 1


def test_stop_from_paused_applies() -> None:
    state = given(added("t1"), TrackChanged(track="t1", position_ms=3_000), Paused())
    then = when(state, Stopped())
    assert (then.playback.status, then.playback.position_ms) == ("stopped", 0)
    assert then.ignored == state.ignored


# --- event time -----------------------------------------------------------------------------------


def test_clock_is_monotonic_when_occurred_at_goes_backwards() -> None:
    state = given(
        added("t1"),
        (T0 + 60_000, TrackChanged(track="t1", position_ms=0)),
    )
    back = when(state, Seeked(position_ms=5_000), at=T0 + 10_000)
    assert back.clock_ms == T0 + 60_000
    assert back.playback.anchor_at == T0 + 60_000
    # the playhead never runs backwards: pausing "earlier" still counts from the clock
    paused = when(back, Paused(), at=T0)
    assert paused.clock_ms == T0 + 60_000
    assert paused.playback.position_ms == 5_000
    later = when(paused, Resumed(), at=T0 + 70_000)
    assert later.clock_ms == T0 + 70_000


def test_clock_follows_every_event_even_ignored_ones() -> None:
    state = given((T0, Paused()), (T0 + 5_000, Resumed()))
    assert state.ignored == 2
    assert state.clock_ms == T0 + 5_000
    assert state.seq == 2


# --- preset and intensity ---------------------------------------------------------------------


def test_preset_changed_with_or_without_a_track() -> None:
    state = given(PresetChanged(preset="punchy"))
    assert state.playback.preset == "punchy"
    assert state.ignored == 0
    playing = when(given(added("t1"), TrackChanged(track="t1")), PresetChanged(preset="gentle"))
    assert playing.playback.preset == "gentle"
    assert playing.playback.status == "playing"


def test_defaults_before_any_event() -> None:
    state = State()
    assert (state.seq, state.clock_ms, state.ignored) == (0, 0, 0)
    assert state.tracks == {}
    assert state.playback.track is None
    assert state.playback.status == "stopped"
    assert state.playback.preset == "adaptive"
    assert state.playback.intensity_tenths == 5


@pytest.mark.parametrize(
    ("intensity", "tenths"),
    [
        (0.0, 0),
        (1.0, 10),
        (0.04, 0),
        (0.05, 1),
        (0.14999, 1),
        (0.15, 2),
        (0.25, 3),
        (0.35, 4),
        (0.3, 3),
        (0.7, 7),
        (0.949, 9),
        (0.95, 10),
        (0.6499999, 6),
    ],
)
def test_intensity_is_quantised_to_tenths(intensity: float, tenths: int) -> None:
    state = given(IntensityChanged(intensity=intensity))
    assert state.playback.intensity_tenths == tenths


def test_intensity_of_equal_tenths_gives_equal_states() -> None:
    a = given(IntensityChanged(intensity=0.31))
    b = given(IntensityChanged(intensity=0.34))
    assert encode_state(a) == encode_state(b)


# --- totality -------------------------------------------------------------------------------------


class SomethingNew(Event, frozen=True):
    """An event type this projection has never heard of."""

    detail: str = ""


def test_an_unknown_event_is_counted_and_changes_nothing_else() -> None:
    state = given(added("t1"), TrackChanged(track="t1", position_ms=4_000))
    then = when(state, SomethingNew(detail="x"), at=T0 + 90_000)
    assert then.ignored == state.ignored + 1
    assert then.seq == state.seq + 1
    assert then.clock_ms == T0 + 90_000
    assert then.tracks == state.tracks
    assert then.playback == state.playback


def test_evolve_leaves_its_input_alone() -> None:
    state = given(added("t1"), added("t2"), TrackChanged(track="t1"))
    before = encode_state(state)
    when(state, TrackDeleted(track="t1"))
    when(state, modified("t2"))
    when(state, TrackMoved(track="t2", path="elsewhere.flac"))
    assert encode_state(state) == before
