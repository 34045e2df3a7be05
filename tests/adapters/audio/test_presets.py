"""Preset DSP: bypass, bounds, seamless chunking, and that each preset does what it says."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.audio.dsp import Band, block_size
from adapters.audio.presets import (
    CEILING,
    TrackLevel,
    chain_for,
    render_samples,
    render_window,
)
from domain.events import PRESETS, Preset
from tests.adapters.audio import signals


def render_in_chunks(
    audio: np.ndarray, rate: int, preset: Preset, tenths: int, level: TrackLevel, size: int
) -> np.ndarray:
    """What render_chunk does, without files: each chunk from its own pre/post-rolled window."""
    chain = chain_for(preset, tenths / 10.0, level)
    block = block_size(rate)
    parts = []
    for start in range(0, audio.shape[0], size):
        first = max(0, (start - chain.preroll_frames(rate)) // block * block)
        last = start + size + chain.postroll_frames(rate)
        keep = min(size, audio.shape[0] - start)
        parts.append(render_window(audio[first:last], first, start, keep, rate, chain))
    return np.concatenate(parts)


@pytest.mark.parametrize("preset", PRESETS)
def test_intensity_zero_is_the_input_bit_for_bit(preset: Preset, level: TrackLevel) -> None:
    audio = signals.music(0.5, 44100)
    out = render_samples(audio, 44100, preset, 0, level)
    assert out.dtype == np.float32 and np.array_equal(out, audio)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("tenths", [1, 5, 10])
@pytest.mark.parametrize(
    ("rate", "channels", "seconds"), [(44100, 2, 5.0), (8000, 1, 4.0), (96000, 2, 2.5)]
)
def test_chunks_joined_equal_the_whole_render(
    preset: Preset, tenths: int, rate: int, channels: int, seconds: float, level: TrackLevel
) -> None:
    audio = signals.music(seconds, rate, channels)
    whole = render_samples(audio, rate, preset, tenths, level)
    size = round(rate * 0.9) + 7  # chunk seams off the block grid, last chunk shorter
    joined = render_in_chunks(audio, rate, preset, tenths, level, size)
    assert joined.shape == whole.shape
    assert np.abs(joined - whole).max() <= 1e-5
    assert not np.array_equal(whole, audio)  # the preset did something


GARBAGE = [np.nan, np.inf, -np.inf, 3776.9, -1.49, 1e30]


@pytest.mark.parametrize("preset", PRESETS)
def test_output_is_finite_and_under_the_ceiling_for_any_input(
    preset: Preset, level: TrackLevel
) -> None:
    rate = 22050
    audio = signals.noise(1.0, rate, amp=2.0)  # mostly clipping
    rng = np.random.default_rng(7)
    for value in GARBAGE:
        audio[rng.integers(0, audio.shape[0], 50), rng.integers(0, 2, 50)] = value
    audio[: rate // 10] = signals.clicks(0.1, rate, 2, every=0.001)
    out = render_samples(audio, rate, preset, 10, level)
    assert np.isfinite(out).all()
    assert np.abs(out).max() <= CEILING + 1e-6


def test_loud_boosts_stay_under_the_ceiling_even_at_the_first_block() -> None:
    audio = signals.sine(1.0, 44100, freq=60.0, amp=0.99)
    quiet_master = TrackLevel(loudness_db=-30.0, peak=0.99, measured=True)
    out = render_samples(audio, 44100, "adaptive", 10, quiet_master)
    assert np.abs(out).max() <= CEILING + 1e-6
    assert np.abs(out[:200]).max() <= CEILING + 1e-6


def band_energy(audio: np.ndarray, rate: int, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio[:, 0])) ** 2
    freqs = np.fft.rfftfreq(audio.shape[0], 1.0 / rate)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


@pytest.mark.parametrize(
    ("preset", "low", "high", "louder"),
    [
        ("bright", 6000.0, 16000.0, True),
        ("warm", 6000.0, 16000.0, False),
        ("warm", 40.0, 100.0, True),
        ("gentle", 7000.0, 16000.0, False),
    ],
)
def test_each_preset_tilts_the_spectrum_its_way(
    preset: Preset, low: float, high: float, louder: bool
) -> None:
    rate = 44100
    audio = signals.noise(1.0, rate, amp=0.05)  # quiet: the limiter stays out of the way
    level = TrackLevel(loudness_db=-26.0, peak=0.2, measured=True)
    out = render_samples(audio, rate, preset, 10, level)
    ratio = band_energy(out, rate, low, high) / band_energy(audio, rate, low, high)
    assert (ratio > 1.3) if louder else (ratio < 0.8)


@pytest.mark.parametrize("preset", ["punchy", "gentle", "adaptive"])
def test_compressing_presets_narrow_the_level_range_more_with_intensity(preset: Preset) -> None:
    rate = 22050
    half = rate // 2
    quiet = signals.noise(0.5, rate, amp=0.011, seed=1)
    loud = signals.noise(0.5, rate, amp=0.15, seed=2)  # peaks under the ceiling: no limiting
    audio = np.concatenate([quiet, loud, quiet, loud])
    level = TrackLevel(loudness_db=-30.0, peak=0.6, measured=True)

    def spread_db(x: np.ndarray) -> float:  # loud minus quiet, each measured after settling
        def rms(part: np.ndarray) -> float:
            return float(np.sqrt(np.mean(part * part)))

        return 20 * np.log10(
            rms(x[3 * half + half // 2 :]) / rms(x[2 * half + half // 2 : 3 * half])
        )

    spreads = [spread_db(render_samples(audio, rate, preset, t, level)) for t in (0, 5, 10)]
    assert spreads[0] > spreads[1] + 0.5 > spreads[2] + 1.0, spreads


def test_adaptive_moves_loudness_towards_the_target() -> None:
    rate = 22050
    audio = signals.noise(2.0, rate, amp=0.02)
    rms_in = float(np.sqrt(np.mean(audio**2)))
    quiet = TrackLevel(loudness_db=-34.0, peak=0.08, measured=True)
    louder = render_samples(audio, rate, "adaptive", 10, quiet)
    assert float(np.sqrt(np.mean(louder**2))) > 2.0 * rms_in
    unmeasured = render_samples(audio, rate, "adaptive", 10, TrackLevel())
    assert float(np.sqrt(np.mean(unmeasured**2))) == pytest.approx(rms_in, rel=0.05)


def test_chain_parameters_depend_on_the_track_not_the_chunk(level: TrackLevel) -> None:
    assert chain_for("punchy", 0.7, level) == chain_for("punchy", 0.7, level)
    assert chain_for("punchy", 0.7, level) != chain_for("punchy", 0.7, TrackLevel(-8.0, 1.0, True))


def test_biquad_shelf_gain_is_what_it_says() -> None:
    rate = 48000
    sos = Band("high_shelf", 2000.0, 6.0).coefficients(rate)
    b, a = sos[:3], sos[3:]
    z = np.exp(-1j * np.pi)  # Nyquist
    gain = abs(np.polyval(b[::-1], z) / np.polyval(a[::-1], z))
    assert 20 * np.log10(gain) == pytest.approx(6.0, abs=0.05)


def test_window_start_must_be_on_the_block_grid(level: TrackLevel) -> None:
    chain = chain_for("warm", 0.5, level)
    with pytest.raises(ValueError, match="block boundary"):
        render_window(signals.sine(0.1, 8000), 3, 3, 10, 8000, chain)
