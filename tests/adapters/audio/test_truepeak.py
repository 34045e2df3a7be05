"""The limiter's true-peak detector: the Annex's interpolation, computed where it can matter,
the same whichever window a block is rendered in."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.audio.dsp import block_peak
from adapters.audio.truepeak import (
    GAIN_BOUND,
    block_true_peaks,
    interpolated_block_peaks,
    oversampled_magnitude,
)

RELATIVE_TOLERANCE = 1e-6  # float32 products against the reference's double accumulation


def reference(x: np.ndarray, block: int) -> np.ndarray:
    """BS.1770-4 Annex 2 true peak per block: the 4x oversampled magnitude, samples included."""
    return oversampled_magnitude(x).reshape(x.shape[0], -1, block).max(axis=(0, 2))


def noise(channels: int, blocks: int, block: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.5 * rng.standard_normal((channels, blocks * block))).astype(np.float32)


@pytest.mark.parametrize(
    ("block", "blocks"), [(16, 1), (16, 1100), (64, 3), (64, 1100), (128, 70), (8192, 3)]
)
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("origin_blocks", [0, 1, 77])
def test_block_peaks_are_the_annex_true_peak(
    block: int, blocks: int, channels: int, origin_blocks: int
) -> None:
    x = noise(channels, blocks, block)
    expected = reference(x, block)
    got = np.maximum(
        interpolated_block_peaks(x, block, origin_blocks * block), block_peak(x, block)
    )
    assert np.abs(got - expected).max() <= RELATIVE_TOLERANCE * expected.max()


@pytest.mark.parametrize("threshold", [0.2, 0.9, 1.5, 3.0])
def test_blocks_that_could_exceed_the_threshold_get_their_true_peak(threshold: float) -> None:
    block = 64
    x = noise(2, 900, block, seed=1)
    x[:, : 300 * block] *= 0.05  # a quiet stretch: nothing there needs interpolating
    x[:, 100 * block] = 0.95  # one click in it
    expected = reference(x, block)
    peaks = block_true_peaks(x, block, block_peak(x, block), threshold, 640)
    over = (expected > threshold) | (peaks > threshold)
    assert np.allclose(peaks[over], expected[over], rtol=RELATIVE_TOLERANCE)
    assert (peaks[~over] <= threshold).all()


def test_quiet_blocks_are_not_interpolated() -> None:
    x = np.full((2, 64 * 10), 0.1, dtype=np.float32)
    sample_peaks = block_peak(x, 64)
    peaks = block_true_peaks(x, 64, sample_peaks, threshold=0.1 * GAIN_BOUND + 1e-6)
    assert np.array_equal(peaks, sample_peaks)


@pytest.mark.parametrize("offset_blocks", [1, 7, 100, 333])
def test_a_block_has_the_same_true_peak_in_any_window_bit_for_bit(offset_blocks: int) -> None:
    block = 64
    x = noise(2, 3000, block, seed=2)
    whole = interpolated_block_peaks(x, block)
    window = np.ascontiguousarray(x[:, offset_blocks * block : 2900 * block])
    part = interpolated_block_peaks(window, block, offset_blocks * block)
    # the window's first and last blocks see silence beyond its edges, the whole track does not
    assert np.array_equal(part[1:-1], whole[offset_blocks + 1 : 2899])
