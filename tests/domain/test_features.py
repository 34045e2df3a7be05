"""Pure content features and preset affinity (no files)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from domain.affinity import preset_affinity
from domain.events import PRESETS
from domain.features import Features, chunk_features, neutral, silent
from tests.adapters.audio import signals

FIELDS = ("energy", "brightness", "dynamics", "vocals", "rhythm")


def test_empty_and_non_finite_audio_are_neutral_with_a_reason() -> None:
    assert chunk_features(np.zeros((0, 2), np.float32), 44100) == neutral("empty")
    broken = signals.sine(0.5, 8000)
    broken[5, 0] = np.nan
    assert chunk_features(broken, 8000).neutral_reason == "non_finite"
    assert all(getattr(neutral("x"), f) == 0.5 for f in FIELDS)
    # +inf and -inf in two channels of one frame: the mix would be NaN, the answer is the same
    both = np.array([[np.inf, -np.inf]], np.float32)
    assert chunk_features(both, 8000).neutral_reason == "non_finite"


def test_silence_is_no_energy_not_unknown() -> None:
    features = chunk_features(signals.silence(1.0, 8000), 8000)
    assert features == silent()
    assert features.energy == 0.0 and features.neutral_reason == "silent"
    quiet = preset_affinity(features)
    assert quiet["gentle"] > quiet["punchy"] and quiet["warm"] > quiet["bright"]


@pytest.mark.parametrize("value", [3.4028235e38, 1e300])
def test_absurd_magnitudes_give_finite_features_without_warnings(value: float) -> None:
    audio = np.zeros((4000, 2), dtype=np.float64)
    audio[::7] = value
    audio[3::11] = -value / 3
    features = chunk_features(audio, 44100)
    assert features.energy == 1.0 and features.neutral_reason is None
    assert all(0.0 <= getattr(features, f) <= 1.0 for f in FIELDS)


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(0, 3000), st.integers(1, 3)),
        elements=st.floats(width=32),
    ),
    st.sampled_from([8000, 22050, 44100, 96000]),
)
def test_every_feature_is_in_the_unit_interval_for_any_input(audio: np.ndarray, rate: int) -> None:
    features = chunk_features(audio, rate)
    for field in FIELDS:
        assert 0.0 <= getattr(features, field) <= 1.0


def test_energy_follows_rms() -> None:
    quiet = chunk_features(signals.noise(1.0, 8000, amp=0.01, channels=1), 8000)
    loud = chunk_features(signals.noise(1.0, 8000, amp=0.3), 8000)
    assert quiet.energy == pytest.approx(0.1, abs=0.01)
    assert loud.energy == 1.0


@pytest.mark.parametrize("rate", [8000, 44100, 96000])
def test_brightness_rises_with_frequency_whatever_the_sample_rate(rate: int) -> None:
    values = [chunk_features(signals.sine(0.5, rate, f), rate).brightness for f in (150, 800, 3500)]
    assert values[0] < values[1] < values[2]
    assert chunk_features(signals.sine(0.5, rate, 800), rate).brightness == pytest.approx(
        0.5, abs=0.05
    )  # 800 Hz sits half way between 100 Hz and 8 kHz on a log scale


def test_dynamics_is_crest_factor() -> None:
    assert chunk_features(signals.sine(1.0, 8000), 8000).dynamics == pytest.approx(0.15, abs=0.01)
    assert chunk_features(signals.clicks(1.0, 8000), 8000).dynamics == 1.0


def test_vocals_peak_in_the_voice_band() -> None:
    voice = chunk_features(signals.sine(1.0, 16000, 1500), 16000).vocals
    bass = chunk_features(signals.sine(1.0, 16000, 80), 16000).vocals
    assert voice > 0.9 and bass < 0.1


def test_rhythm_is_envelope_fluctuation() -> None:
    rate = 8000
    steady = chunk_features(signals.noise(2.0, rate), rate).rhythm
    t = np.arange(2 * rate) / rate
    beat = (signals.noise(2.0, rate)[:, 0] * (np.sin(2 * np.pi * 2 * t) > 0.6)).astype(np.float32)
    assert steady < 0.1 and chunk_features(beat, rate).rhythm > 0.8


def test_affinity_is_a_distribution_over_the_presets() -> None:
    for features in (neutral("silent"), Features(1, 1, 1, 1, 1), Features(0, 0, 0, 0, 0)):
        affinity = preset_affinity(features)
        assert tuple(affinity) == PRESETS
        assert sum(affinity.values()) == pytest.approx(1.0)
        assert all(0.0 < p < 1.0 for p in affinity.values())


def test_affinity_rules_point_the_right_way() -> None:
    loud = preset_affinity(Features(1.0, 0.5, 0.2, 0.5, 0.9))
    soft = preset_affinity(Features(0.05, 0.5, 0.2, 0.5, 0.1))
    assert loud["punchy"] > soft["punchy"] and loud["bright"] > soft["bright"]
    assert soft["gentle"] > loud["gentle"] and soft["warm"] > loud["warm"]
    dynamic = preset_affinity(Features(0.5, 0.5, 1.0, 0.5, 0.5))
    assert max(dynamic, key=dynamic.__getitem__) == "adaptive"
    flat = preset_affinity(neutral("silent"))
    assert max(flat.values()) - min(flat.values()) < 0.15
