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
_TAPS: Final = PHASES.shape[1]
_HALO: Final = _TAPS // 2  # an interpolated point at frame n depends on frames n - 6 .. n + 5
_ROW: Final = 16  # frames per row of the matrix form; divides every block size (>= 16)
# Rows per matrix product (2 048 frames): 128 x 64 x 16 multiply-adds, half of what OpenBLAS
# runs on one thread (2**18; above it, threads that spin cost twice the CPU on a busy machine).
_PIECE_ROWS: Final = 128
_GROUP_PIECES: Final = 8  # pieces per batch of products (numpy loops over them in C)


def _banded(first: int, count: int) -> npt.NDArray[np.float32]:
    """Taps that frames [first, first + count) of a row's window contribute to the row's
    points: [frame, 4 * point + phase] = tap of that phase at (window frame - point)."""
    matrix = np.zeros((count, _ROW, 4), dtype=np.float32)
    for point in range(_ROW):
        for tap in range(_TAPS):
            frame = point + tap - first
            if 0 <= frame < count:
                matrix[frame, point] = PHASES[:, tap]
    return matrix.reshape(count, 4 * _ROW)


_BODY: Final = _banded(0, _ROW)  # the row's own frames
_TAIL: Final = _banded(_ROW, _TAPS - 1)  # the next row's first frames


def _phase(x: Signal, taps: npt.NDArray[np.float32]) -> Signal:
    """One phase of the interpolation at every frame of (channels, frames) `x`: point n is
    the taps over frames n - 6 .. n + 5, zeros outside `x`."""
    frames = x.shape[1]
    padded = np.pad(x.astype(np.float64), ((0, 0), (_HALO, _TAPS - 1 - _HALO)))
    y = np.zeros(x.shape)
    for k, tap in enumerate(taps.tolist()):
        y += tap * padded[:, k : k + frames]
    out: Signal = y.astype(np.float32)
    return out


def _interpolated_peak(x: Signal) -> float:
    """Largest |value| of the 4x oversampled (channels, frames) signal, samples included."""
    if x.size == 0:
        return 0.0
    peak = float(np.abs(x).max())
    for taps in PHASES:
        peak = max(peak, float(np.abs(_phase(x, taps)).max()))
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


def block_true_peaks(
    x: Signal, block: int, sample_peaks: Blocks, threshold: float, origin: int = 0
) -> Blocks:
    """The true peak of each `block`-frame block of (channels, frames) float32 `x` (frames a
    multiple of `block`, `sample_peaks` its blocks' sample peaks, `origin` the track frame of
    its first frame, a multiple of `block`) wherever it could exceed `threshold`. Elsewhere
    the sample peak stands in: both are below `threshold` there, which is all a limiter with
    that ceiling needs to know. A block is interpolated when the largest sample within reach
    of its points, times `GAIN_BOUND`, exceeds `threshold`.
    """
    before = np.concatenate(([0.0], sample_peaks[:-1]))
    after = np.concatenate((sample_peaks[1:], [0.0]))
    near = np.maximum(sample_peaks, np.maximum(before, after))
    wanted = near * GAIN_BOUND > threshold
    peaks = sample_peaks.copy()
    if wanted.any():
        interpolated = interpolated_block_peaks(x, block, origin, wanted)
        peaks[wanted] = np.maximum(interpolated[wanted], sample_peaks[wanted])
    return peaks


def interpolated_block_peaks(
    x: Signal, block: int, origin: int = 0, wanted: npt.NDArray[np.bool_] | None = None
) -> Blocks:
    """The largest |interpolated point| (the Annex's four phases; samples not included) of
    each block of (channels, frames) `x`, zeros outside `x`; only in pieces that hold a
    `wanted` block (default: all), 0 elsewhere. `origin` as in `block_true_peaks`.

    The 12-tap correlations run as matrix products: rows of `_ROW` frames times a banded
    matrix of the taps give the row's `4 * _ROW` points, and the next row's first 11 frames
    add the rest. Each product covers one piece of `_PIECE_ROWS` rows on a grid of track
    positions: small enough for the BLAS to keep it on one thread and in cache, and the same
    products whichever window the piece is rendered in, so the peaks are bit-identical in a
    chunk and in the whole track (the BLAS rounds a row by where it sits in a product).
    """
    count = x.shape[1] // block
    span = max(_PIECE_ROWS * _ROW, block)  # frames per piece; both powers of two
    per_piece = span // block
    lead = (origin // block) % per_piece  # blocks of the first piece before `x`
    pieces = -(-(lead + count) // per_piece)
    todo = np.zeros(pieces * per_piece, dtype=bool)
    todo[lead : lead + count] = True if wanted is None else wanted
    out = np.zeros(pieces * per_piece, dtype=np.float32)
    grid = out.reshape(pieces, per_piece)
    for first, last in _runs(np.flatnonzero(todo.reshape(pieces, per_piece).any(axis=1))):
        for group in range(first, last, _GROUP_PIECES):
            stop = min(last, group + _GROUP_PIECES)
            start = group * span - lead * block
            grid[group:stop] = _piece_peaks(x, start, stop - group, span, block)
    peaks: Blocks = out[lead : lead + count].astype(np.float64)
    return peaks


def _piece_peaks(
    x: Signal, start: int, pieces: int, span: int, block: int
) -> npt.NDArray[np.float32]:
    """(pieces, blocks per piece) peaks of the points at frames [start, start + pieces * span)
    of `x` (which may reach outside it)."""
    channels, frames = x.shape
    rows = span // _ROW
    window = np.zeros((channels, (pieces * rows + 2) * _ROW), dtype=np.float32)
    lo, hi = max(start - _HALO, 0), min(start + pieces * span + _HALO, frames)
    offset = _HALO - start
    window[:, lo + offset : hi + offset] = x[:, lo:hi]
    framed = window.reshape(channels, pieces * rows + 2, _ROW)
    body = framed[:, : pieces * rows].reshape(channels, pieces, rows, _ROW)
    tail = framed[:, 1 : pieces * rows + 1, : _TAPS - 1].reshape(channels, pieces, rows, -1)
    points = np.matmul(body, _BODY)
    points += np.matmul(tail, _TAIL)
    np.abs(points, out=points)
    blocks = points.reshape(channels, pieces, span // block, -1)
    peaks: npt.NDArray[np.float32] = blocks.max(axis=(0, 3))
    return peaks


def _runs(indices: npt.NDArray[np.intp]) -> list[tuple[int, int]]:
    """Consecutive runs [first, last) of sorted `indices`."""
    if indices.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) > 1) + 1
    starts = indices[np.concatenate(([0], breaks))]
    ends = indices[np.concatenate((breaks - 1, [indices.size - 1]))] + 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def oversampled_magnitude(x: Signal) -> Signal:
    """max over the four phases of |interpolated value|, per (channel, frame)."""
    out = np.abs(x)
    for taps in PHASES:
        np.maximum(out, np.abs(_phase(x, taps)), out=out)
    return out
