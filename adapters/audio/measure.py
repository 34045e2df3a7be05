"""Measurements of rendered audio: THD+N, integrated loudness, true peak.

Used by the tests, `bench/quality.py` and `tierbuffer render` (which prints what it made).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from adapters.audio.analysis import LoudnessMeter
from adapters.audio.truepeak import true_peak, true_peak_db

__all__ = ["loudness_lufs", "thd_n", "true_peak", "true_peak_db"]


def thd_n(
    samples: npt.NDArray[np.floating], sample_rate: int, freq: float, *, skip_s: float = 0.5
) -> float:
    """THD+N of a steady sine of frequency `freq` in (frames,) or (frames, channels) audio,
    as a fraction: the RMS of everything but the fundamental over the RMS of the whole, after
    `skip_s` seconds (dynamics settle). The fundamental (and DC) is removed by a least-squares
    fit at the known frequency, an exact notch for a steady tone; per channel, the worst."""
    data = np.asarray(samples, dtype=np.float64)
    data = data.reshape(-1, 1) if data.ndim == 1 else data
    start = min(round(skip_s * sample_rate), data.shape[0] // 2)
    part = data[start:]
    t = np.arange(part.shape[0]) / sample_rate
    basis = np.stack(
        [np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t)], axis=1
    )
    worst = 0.0
    for channel in part.T:
        coefficients, *_ = np.linalg.lstsq(basis, channel, rcond=None)
        residual = channel - basis @ coefficients
        total = float(np.sqrt(np.mean(channel * channel)))
        if total > 0.0:
            worst = max(worst, float(np.sqrt(np.mean(residual * residual))) / total)
    return worst


def loudness_lufs(samples: npt.NDArray[np.floating], sample_rate: int) -> float:
    """Integrated loudness (BS.1770-4, the analysis' meter) of (frames, channels) audio;
    -inf when nothing passes the gates."""
    data = np.asarray(samples, dtype=np.float32)
    data = data.reshape(-1, 1) if data.ndim == 1 else data
    meter = LoudnessMeter(sample_rate, data.shape[1])
    meter.feed(data)
    value = meter.loudness_db()
    return -math.inf if value is None else value
