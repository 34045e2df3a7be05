"""True peak after ITU-R BS.1770-4 Annex 2: the signal 4x oversampled by the Annex's 48-tap
interpolator (four phases of 12 taps), and the largest magnitude of samples and interpolated
points. It is what a DAC or a lossy re-encode will clip, where a sample-peak meter reads lower
(a sine at a quarter of the sample rate, 45 degrees off its samples, peaks 3 dB above them).

`true_peak` measures a whole signal; `block_true_peaks` gives the limiter the true peak of each
dynamics block, computing the interpolation only where the sample peaks say it could matter.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import ndimage  # type: ignore[import-untyped]

Signal = npt.NDArray[np.float32]
Blocks = npt.NDArray[np.float64]

_PHASE_1: Final = (
    -0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250,
    -0.1665039062500, 0.4650878906250, 0.7797851562500, -0.2003173828125,
    0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375,
)  # fmt: skip
_PHASE_0: Final = (
    0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000,
    -0.0594482421875, 0.1373291015625, 0.9721679687500, -0.1022949218750,
    0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500,
)  # fmt: skip
# The Annex's four phases; phases 2 and 3 are phases 1 and 0 reversed (the filter is symmetric).
PHASES: Final = np.array([_PHASE_0, _PHASE_1, _PHASE_1[::-1], _PHASE_0[::-1]], dtype=np.float32)
# No interpolated point exceeds this multiple of the largest |sample| within its 12 taps.
GAIN_BOUND: Final = float(np.abs(PHASES).sum(axis=1).max())
_HALO: Final = PHASES.shape[1] // 2  # samples each side an interpolated point depends on
_JOIN_GAP_BLOCKS: Final = 16


def _interpolated_peak(x: Signal) -> float:
    """Largest |value| of the 4x oversampled (channels, frames) signal, samples included."""
    if x.size == 0:
        return 0.0
    peak = float(np.abs(x).max())
    for taps in PHASES:
        y = ndimage.correlate1d(x, taps, axis=1, mode="constant")
        peak = max(peak, float(np.abs(y).max()))
    return peak


def true_peak(samples: npt.NDArray[np.floating]) -> float:
    """True peak (linear) of (frames, channels) or (frames,) audio; 0 for nothing."""
    data = np.asarray(samples, dtype=np.float32)
    data = data.reshape(-1, 1) if data.ndim == 1 else data
    return _interpolated_peak(np.ascontiguousarray(data.T))


def true_peak_db(samples: npt.NDArray[np.floating]) -> float:
    """True peak in dBTP (-inf for silence)."""
    peak = true_peak(samples)
    return 20.0 * math.log10(peak) if peak > 0.0 else -math.inf


def block_true_peaks(x: Signal, block: int, sample_peaks: Blocks, threshold: float) -> Blocks:
    """The true peak of each `block`-frame block of (channels, frames) float32 `x` (frames a
    multiple of `block`, `sample_peaks` its blocks' sample peaks) wherever it could exceed
    `threshold`. Elsewhere the sample peak stands in: both are below `threshold` there, which
    is all a limiter with that ceiling needs to know. A block is interpolated when the largest
    sample within reach of its points, times `GAIN_BOUND`, exceeds `threshold`.
    """
    count = sample_peaks.shape[0]
    before = np.concatenate(([0.0], sample_peaks[:-1]))
    after = np.concatenate((sample_peaks[1:], [0.0]))
    near = np.maximum(sample_peaks, np.maximum(before, after))
    candidates = np.flatnonzero(near * GAIN_BOUND > threshold)
    peaks = sample_peaks.copy()
    if candidates.size == 0:
        return peaks
    if candidates.size * 4 > count:  # dense (a loud master): one pass over everything is cheaper
        magnitude = oversampled_magnitude(x[:, : count * block])
        whole: Blocks = magnitude.reshape(x.shape[0], count, block).max(axis=(0, 2))
        return np.where(near * GAIN_BOUND > threshold, whole, peaks)
    # runs of candidates, joined across short gaps: fewer, longer passes
    runs = np.split(candidates, np.flatnonzero(np.diff(candidates) > _JOIN_GAP_BLOCKS) + 1)
    for run in runs:
        first, last = int(run[0]), int(run[-1]) + 1
        lo, hi = max(0, first * block - _HALO), min(count * block, last * block + _HALO)
        part = x[:, lo:hi]
        values = oversampled_magnitude(part)
        offset = first * block - lo
        view = values[:, offset : offset + (last - first) * block]
        peaks[first:last] = view.reshape(-1, last - first, block).max(axis=(0, 2))
    return peaks


def oversampled_magnitude(x: Signal) -> Signal:
    """max over the four phases of |interpolated value|, per (channel, frame)."""
    out = np.abs(x)
    for taps in PHASES:
        y = ndimage.correlate1d(x, taps, axis=1, mode="constant")
        np.maximum(out, np.abs(y), out=out)
    return out
