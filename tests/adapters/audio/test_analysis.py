"""analyse_track: ChunkAnalysed per chunk, then TrackAnalysed with loudness and real length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf  # type: ignore[import-untyped]

from adapters.audio.analysis import analyse_track
from adapters.audio.presets import TrackLevel
from domain.events import ChunkAnalysed, TrackAnalysed
from tests.adapters.audio import signals


def split(events: list[ChunkAnalysed | TrackAnalysed]) -> tuple[list[ChunkAnalysed], TrackAnalysed]:
    *chunks, track = events
    assert isinstance(track, TrackAnalysed)
    assert all(isinstance(c, ChunkAnalysed) for c in chunks)
    return chunks, track  # type: ignore[return-value]


def test_one_event_per_chunk_and_the_real_length(tmp_path: Path) -> None:
    rate = 16000
    path = signals.write(tmp_path / "a.flac", signals.music(3.4, rate), rate)
    chunks, track = split(analyse_track(path, "t", 2, chunk_seconds=1.0))
    assert [c.index for c in chunks] == [0, 1, 2, 3]
    assert all(c.track == "t" and c.revision == 2 and c.neutral_reason is None for c in chunks)
    assert track.frames == round(3.4 * rate) and track.neutral_reason is None
    assert 0.0 < track.peak <= 1.0


def test_loudness_of_a_sine_matches_bs1770(tmp_path: Path) -> None:
    rate = 48000
    path = signals.write(tmp_path / "a.wav", signals.sine(3.0, rate, 1000.0, 0.5, channels=1), rate)
    _, track = split(analyse_track(path, "t", 0))
    # a 0 dBFS 1 kHz sine in one channel reads -3.01 LUFS; at half amplitude 6.02 dB lower
    assert track.loudness_db == pytest.approx(-9.03, abs=0.1)
    level = TrackLevel.of(track.loudness_db, track.peak)
    assert level.measured and level.loudness_db == track.loudness_db


def test_silence_is_low_energy_with_an_unmeasured_level(tmp_path: Path) -> None:
    path = signals.write(tmp_path / "s.flac", signals.silence(2.0, 8000), 8000)
    chunks, track = split(analyse_track(path, "t", 0))
    assert chunks[0].neutral_reason == "silent" and chunks[0].energy == 0.0
    assert track.neutral_reason == "silent"
    assert not TrackLevel.of(track.loudness_db, track.peak).measured


def test_unreadable_file_gives_neutral_events_not_an_exception(tmp_path: Path) -> None:
    chunks, track = split(analyse_track(tmp_path / "gone.ogg", "t", 0))
    assert chunks[0].neutral_reason == "unreadable: missing"
    assert track.frames == 0 and track.neutral_reason == "unreadable: missing"


def test_nan_chunk_is_neutral_and_sanitising_is_counted(tmp_path: Path) -> None:
    rate = 8000
    audio = signals.noise(2.0, rate)
    audio[rate + 5, 0] = np.nan
    audio[10, 1] = 50.0  # beyond +18 dBFS: garbage, zeroed
    audio[20, 1] = 1.4  # an over: kept
    path = tmp_path / "f.wav"
    sf.write(str(path), audio, rate, subtype="FLOAT")
    chunks, track = split(analyse_track(path, "t", 0, chunk_seconds=1.0))
    assert chunks[0].neutral_reason is None and chunks[1].neutral_reason == "non_finite"
    assert track.sanitised == 2
    assert track.peak == pytest.approx(1.4)


def test_truncated_file_reports_what_really_decodes(tmp_path: Path) -> None:
    rate = 44100
    path = signals.write(tmp_path / "a.mp3", signals.music(4.0, rate), rate)
    signals.truncate(path, 0.5)
    chunks, track = split(analyse_track(path, "t", 0, chunk_seconds=1.0))
    assert 0 < track.frames < 3 * rate
    assert len(chunks) == -(-track.frames // rate)
