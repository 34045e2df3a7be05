"""DSP building blocks: biquad equalisers, a feed-forward compressor, a look-ahead limiter.

Signals are float32 arrays laid out (channels, frames). Everything here is built so that rendering
a window of a track depends only on a bounded stretch of input around each output sample:

- biquads are IIR filters whose state decays geometrically (the lowest corner used is 20 Hz, whose
  state falls below 1e-20 within 0.25 s), so starting them from rest a pre-roll before the chunk
  converges to the state a whole-track render would have reached;
- dynamics are computed on blocks of `block_size(sample_rate)` frames aligned to absolute track
  positions, with finite windows (moving averages, minimum filters) instead of recursive envelope
  followers, so their memory is exactly finite.

The detector of the compressor looks backwards only (causal); the limiter looks ahead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from adapters.audio import iir

Signal = npt.NDArray[np.float32]
Blocks = npt.NDArray[np.float64]
BandKind: TypeAlias = Literal["peak", "low_shelf", "high_shelf", "high_pass"]


def block_size(sample_rate: int) -> int:
    """Frames per dynamics block: about 1.3 ms at any rate, a power of two."""
    return 1 << max(4, round(math.log2(sample_rate / 750.0)))


def blocks_of(seconds: float, sample_rate: int) -> int:
    return max(1, round(seconds * sample_rate / block_size(sample_rate)))


@dataclass(frozen=True, slots=True)
class Band:
    """One biquad of an equaliser (RBJ Audio EQ Cookbook)."""

    kind: BandKind
    freq: float
    gain_db: float = 0.0
    q: float = 0.707

    def coefficients(self, sample_rate: int) -> npt.NDArray[np.float64]:
        """Normalised second-order section [b0, b1, b2, 1, a1, a2]."""
        freq = min(self.freq, 0.45 * sample_rate)
        w0 = 2.0 * math.pi * freq / sample_rate
        cos_w, alpha = math.cos(w0), math.sin(w0) / (2.0 * self.q)
        amp = 10.0 ** (self.gain_db / 40.0)
        if self.kind == "peak":
            b = (1 + alpha * amp, -2 * cos_w, 1 - alpha * amp)
            a = (1 + alpha / amp, -2 * cos_w, 1 - alpha / amp)
        elif self.kind == "high_pass":
            b = ((1 + cos_w) / 2, -(1 + cos_w), (1 + cos_w) / 2)
            a = (1 + alpha, -2 * cos_w, 1 - alpha)
        else:
            sign = 1.0 if self.kind == "low_shelf" else -1.0
            root = 2.0 * math.sqrt(amp) * alpha
            b = (
                amp * ((amp + 1) - sign * (amp - 1) * cos_w + root),
                sign * 2 * amp * ((amp - 1) - sign * (amp + 1) * cos_w),
                amp * ((amp + 1) - sign * (amp - 1) * cos_w - root),
            )
            a = (
                (amp + 1) + sign * (amp - 1) * cos_w + root,
                -sign * 2 * ((amp - 1) + sign * (amp + 1) * cos_w),
                (amp + 1) + sign * (amp - 1) * cos_w - root,
            )
        sos: npt.NDArray[np.float64] = np.array([*b, *a], dtype=np.float64) / a[0]
        return sos


def equalise(x: Signal, bands: tuple[Band, ...], sample_rate: int) -> Signal:
    """Run the bands in series over each channel of (channels, frames) `x`, starting from rest;
    a new C-contiguous float32 array (`x` itself when there are no bands; `x` may be a view).

    All bands run in float64, in one pass. Low corners need it: their poles sit close to the
    unit circle, where float32 round-off is amplified to about 1e-4 (and differs between two
    renders of the same audio that started at different places). The rest come free: the
    cascade runs as one linear system (`adapters.audio.iir`), whose cost is mostly per sample.
    """
    if not bands:
        return x
    sos = np.stack([band.coefficients(sample_rate) for band in bands])
    filtered, _ = iir.sosfilt(sos, x)
    y: Signal = filtered.astype(np.float32)
    return y


def as_blocks(x: Signal, block: int) -> Signal:
    """View (channels, frames) as (channels, blocks, block); frames must be a multiple of block."""
    channels, frames = x.shape
    return x.reshape(channels, frames // block, block)


def block_power(x: Signal, block: int) -> Blocks:
    """Mean square per block over all channels (linked stereo detection)."""
    view = as_blocks(x, block)
    power: Blocks = np.einsum("cbk,cbk->b", view, view, dtype=np.float64)
    mean: Blocks = power / (view.shape[0] * block)
    return mean


def block_peak(x: Signal, block: int) -> Blocks:
    view = as_blocks(x, block)
    peak: Blocks = np.abs(view).max(axis=(0, 2)).astype(np.float64)
    return peak


def _moving_mean(values: Blocks, before: int, after: int, edge: float) -> Blocks:
    """Mean over [k - before, k + after]; values outside the array count as `edge`."""
    width = before + after + 1
    padded = np.pad(values, (before, after), constant_values=edge)
    sums: Blocks = np.cumsum(np.concatenate(([0.0], padded)))
    mean: Blocks = (sums[width:] - sums[:-width]) / width
    return mean


def _moving_min(values: Blocks, before: int, after: int, edge: float) -> Blocks:
    """Minimum over [k - before, k + after]; values outside the array count as `edge`."""
    padded = np.pad(values, (before, after), constant_values=edge)
    mins: Blocks = sliding_window_view(padded, before + after + 1).min(axis=1)
    return mins


@dataclass(frozen=True, slots=True)
class Compressor:
    """Feed-forward RMS compressor with a soft knee; times in seconds, levels in dBFS."""

    threshold_db: float
    ratio: float
    knee_db: float = 6.0
    detector_s: float = 0.03  # RMS window: longer lets more of a transient through
    hold_s: float = 0.03  # gain reduction is held this long before it may recover
    smooth_s: float = 0.1  # moving average of the gain: sets attack and release
    makeup_db: float = 0.0

    def memory_blocks(self, sample_rate: int) -> int:
        return sum(blocks_of(t, sample_rate) for t in (self.detector_s, self.hold_s, self.smooth_s))

    def gain(self, power: Blocks, sample_rate: int) -> Blocks:
        """Linear gain per block; block k depends on blocks k - memory .. k only."""
        detector = blocks_of(self.detector_s, sample_rate)
        level = _moving_mean(power, detector - 1, 0, 0.0)
        level_db = 10.0 * np.log10(np.maximum(level, 1e-12))
        over = level_db - self.threshold_db
        half = self.knee_db / 2.0
        slope = 1.0 - 1.0 / self.ratio
        knee = np.clip(over + half, 0.0, self.knee_db)
        reduction = np.where(over > half, slope * over, slope * knee * knee / (2 * self.knee_db))
        gain_db = -_moving_min(-reduction, blocks_of(self.hold_s, sample_rate) - 1, 0, 0.0)
        gain_db = _moving_mean(-gain_db, blocks_of(self.smooth_s, sample_rate) - 1, 0, 0.0)
        out: Blocks = 10.0 ** ((gain_db + self.makeup_db) / 20.0)
        return out


@dataclass(frozen=True, slots=True)
class Limiter:
    """Look-ahead brick-wall limiter: no sample leaves above `ceiling` (linear).

    Block k needs gain r_k = min(1, ceiling / peak_k). The gain is the minimum of r over
    [k - hold, k + reach + 1], averaged over [k - reach, k + reach]; each sample takes a linear ramp
    between the gains of its block and the previous one. Every term of that average covers the
    sample's own block, so the gain applied never exceeds what its block needs.
    """

    ceiling: float
    reach_s: float = 0.01
    hold_s: float = 0.05

    def lookahead_blocks(self, sample_rate: int) -> int:
        return 2 * blocks_of(self.reach_s, sample_rate) + 1

    def memory_blocks(self, sample_rate: int) -> int:
        return blocks_of(self.hold_s, sample_rate) + blocks_of(self.reach_s, sample_rate) + 1

    def gain(self, peak: Blocks, sample_rate: int) -> Blocks:
        reach = blocks_of(self.reach_s, sample_rate)
        hold = blocks_of(self.hold_s, sample_rate)
        # outside the array the audio is silence (track edges) or is cut away (pre/post-roll)
        needed = np.pad(
            np.minimum(1.0, self.ceiling / np.maximum(peak, 1e-12)), reach, constant_values=1.0
        )
        held = _moving_min(needed, hold, reach + 1, 1.0)
        out: Blocks = _moving_mean(held, 0, 2 * reach, 1.0)[: peak.shape[0]]
        return out


def apply_gain(x: Signal, gain: Blocks, block: int, *, out: Signal | None = None) -> Signal:
    """Multiply by a per-block gain, ramping linearly from the previous block's gain (into
    `out`, which may be `x` itself)."""
    before = np.concatenate((gain[:1], gain[:-1])).astype(np.float32)
    step = gain.astype(np.float32) - before
    ramp = (np.arange(1, block + 1, dtype=np.float32) / block)[None, :]
    per_frame = (before[:, None] + step[:, None] * ramp).reshape(-1).astype(np.float32, copy=False)
    result: Signal = np.multiply(x, per_frame[None, :], out=out)
    return result


def saturate(x: Signal, amount: float, *, out: Signal | None = None) -> Signal:
    """Soft saturation y = x / sqrt(1 + amount * x^2): unity gain and no distortion for small
    signals, odd low-order harmonics growing with level (a sine of amplitude A gets a third
    harmonic of about amount * A^2 / 8 of itself: 0.03 % at -20 dBFS, 0.6 % at -6 dBFS for
    amount 0.26), monotonic and smooth (no high-order fuzz), bounded by 1 / sqrt(amount).
    Into `out` (which may be `x` itself); with no saturation, `x` is returned as it is."""
    if amount <= 0.0:
        return x
    divisor = np.multiply(x, x)
    divisor *= np.float32(amount)
    divisor += np.float32(1.0)
    np.sqrt(divisor, out=divisor)
    result: Signal = np.divide(x, divisor, out=out)
    return result
