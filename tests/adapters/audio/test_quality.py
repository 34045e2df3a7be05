"""Sound a listener can trust: bounded distortion, a true-peak ceiling, headroom, loudness.

Figures measured on generated signals (1 kHz-ish sines at known levels, a loud and a quiet
master); `bench/quality.py` prints the full table the README quotes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm  # type: ignore[import-untyped]
import pytest

from adapters.audio.measure import loudness_lufs, thd_n, true_peak_db
from adapters.audio.presets import CEILING_DBTP, TrackLevel, render_samples
from adapters.audio.render import decode_flac, render_chunk
from adapters.audio.truepeak import oversampled_magnitude
from domain.events import PRESETS, ChunkKey, ChunkRendered, Preset
from storage.chunks import FileChunkStore
from tests.adapters.audio import signals

RATE = 44100
FREQ = 997.0  # not a divisor of the rate: every sample meets the sine at a new phase
THD_N_AT_MINUS_6_DB = {"adaptive": 0.001, "gentle": 0.001, "bright": 0.001, "punchy": 0.001}
TRUE_PEAK_SLACK_DB = 1e-3


def tone(level_db: float, seconds: float = 1.5, rate: int = RATE) -> np.ndarray:
    return signals.sine(seconds, rate, FREQ, 10 ** (level_db / 20))


def level_of(audio: np.ndarray, rate: int = RATE) -> TrackLevel:
    return TrackLevel(loudness_lufs(audio, rate), float(np.abs(audio).max()), True)


@pytest.mark.parametrize("preset", sorted(THD_N_AT_MINUS_6_DB))
def test_clean_presets_stay_under_a_tenth_of_a_percent_at_minus_6_dbfs(preset: Preset) -> None:
    audio = tone(-6.0)
    out = render_samples(audio, RATE, preset, 10, level_of(audio))
    assert thd_n(out, RATE, FREQ) <= THD_N_AT_MINUS_6_DB[preset]


def test_warm_saturates_as_a_flavour_not_a_fuzz() -> None:
    figures = {}
    for level_db in (-20.0, -6.0):
        audio = tone(level_db)
        out = render_samples(audio, RATE, "warm", 10, level_of(audio))
        figures[level_db] = thd_n(out, RATE, FREQ)
    assert figures[-20.0] <= 0.003 and figures[-6.0] <= 0.01
    assert figures[-6.0] > 5 * figures[-20.0]  # it is there, and it grows with level


@pytest.mark.parametrize("preset", PRESETS)
def test_every_chunk_is_under_the_true_peak_ceiling_seams_included(
    tmp_path: Path, preset: Preset
) -> None:
    audio = signals.loud_master(3.5, RATE)
    path = signals.write(tmp_path / "loud.flac", audio, RATE)
    store = FileChunkStore(tmp_path / "chunks")
    level = level_of(audio)
    events = [
        render_chunk(path, ChunkKey("t", 0, preset, 10, i), level, store, chunk_seconds=1.0)
        for i in range(4)
    ]
    assert all(isinstance(e, ChunkRendered) for e in events)
    parts = [
        decode_flac(store.read(e.key, size=e.bytes, checksum=e.checksum))[0]
        for e in events
        if isinstance(e, ChunkRendered)
    ]
    joined = np.concatenate(parts)  # what the player plays: chunk after chunk
    assert true_peak_db(joined) <= CEILING_DBTP + TRUE_PEAK_SLACK_DB
    magnitude = oversampled_magnitude(np.ascontiguousarray(joined.T)).max(axis=0)
    ceiling = 10 ** ((CEILING_DBTP + TRUE_PEAK_SLACK_DB) / 20)
    for i in range(1, len(parts)):  # around each seam, interpolated across it
        assert magnitude[i * RATE - 50 : i * RATE + 50].max() <= ceiling


def test_overs_are_signal_brought_down_by_the_limiter_not_clipped() -> None:
    audio = tone(+3.0)  # a lossy decoder's over: peaks at 1.41
    assert np.array_equal(render_samples(audio, RATE, "gentle", 0, level_of(audio)), audio)
    out = render_samples(audio, RATE, "gentle", 10, level_of(audio))
    assert true_peak_db(out) <= CEILING_DBTP + TRUE_PEAK_SLACK_DB
    assert thd_n(out, RATE, FREQ) <= 0.001  # a clip would have made it about 5 %


@pytest.mark.parametrize("preset", ["gentle", "warm", "bright", "punchy"])
def test_no_preset_lowers_a_loud_master_by_more_than_half_a_lu(preset: Preset) -> None:
    audio = signals.loud_master(6.0, RATE)
    level = level_of(audio)
    for tenths in (1, 5, 10):
        out = render_samples(audio, RATE, preset, tenths, level)
        assert loudness_lufs(out, RATE) - level.loudness_db >= -0.5, tenths


def test_adaptive_brings_a_loud_master_to_the_streaming_level() -> None:
    audio = signals.loud_master(6.0, RATE)
    out = render_samples(audio, RATE, "adaptive", 10, level_of(audio))
    assert loudness_lufs(out, RATE) == pytest.approx(-14.0, abs=0.5)


@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("make", [signals.loud_master, signals.quiet_master, signals.music])
def test_loudness_matches_an_independent_implementation(rate: int, make: object) -> None:
    audio = make(6.0, rate)  # type: ignore[operator]
    ours = loudness_lufs(audio, rate)
    theirs = pyloudnorm.Meter(rate).integrated_loudness(audio.astype(np.float64))
    assert ours == pytest.approx(theirs, abs=0.1)


def test_true_peak_reads_the_peak_between_samples() -> None:
    n = np.arange(48000)
    quarter = np.sin(np.pi / 2 * n + np.pi / 4).astype(np.float32)  # samples at +-0.707
    assert 20 * np.log10(np.abs(quarter).max()) == pytest.approx(-3.01, abs=0.01)
    assert true_peak_db(quarter) == pytest.approx(0.0, abs=0.2)
