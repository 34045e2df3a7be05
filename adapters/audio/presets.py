"""The five mastering presets as DSP chains, scaled by intensity, and how a window is rendered.

Every chain runs: equaliser -> compressor -> gain -> saturation -> look-ahead limiter holding a
true-peak ceiling of -1 dBTP (BS.1770-4 Annex 2, 4x oversampled) -> a final clip to [-1, 1] that
never acts on what the limiter let through. Intensity s in [0, 1] scales each stage's parameters
(EQ gains in dB, compression ratio above 1:1, gain in dB, saturation amount), so s = 0 is
exactly the decoded input and the sound moves continuously towards the full preset;
docs/audio.md says what each one is for and the README gives their measured distortion,
true peak and loudness change.

Headroom: the input is float and may exceed full scale (lossy decoders' overs); only NaN, Inf
and absurd magnitudes are zeroed (`decoded.ABSURD_LEVEL`), and the limiter, not a clip, brings
overs under the ceiling.

Levels that depend on the track (compressor thresholds, the adaptive loudness gain) are set
relative to the track's integrated loudness from its `TrackAnalysed` event, never from the chunk,
so every chunk of a track is processed with the same parameters and chunks join without level
jumps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from adapters.audio import cancel
from adapters.audio.decoded import ABSURD_LEVEL, sanitise
from adapters.audio.dsp import (
    Band,
    Compressor,
    Limiter,
    Signal,
    apply_gain,
    block_peak,
    block_power,
    block_size,
    equalise,
    saturate,
)
from adapters.audio.truepeak import block_true_peaks
from domain.events import Preset
from domain.loudness import SILENT_LUFS

TARGET_LOUDNESS_DB: Final = -14.0  # LUFS: what streaming services normalise to
DEFAULT_LOUDNESS_DB: Final = -14.0  # assumed when the track could not be measured
CEILING_DBTP: Final = -1.0  # true-peak ceiling of every rendered chunk
CEILING: Final = 10.0 ** (CEILING_DBTP / 20.0)
# What the limiter aims at: the ceiling less a margin for its own gain changes, which move the
# interpolated points between samples a little (measured below 0.02 dB), and 16-bit rounding.
LIMITER_CEILING: Final = 10.0 ** ((CEILING_DBTP - 0.05) / 20.0)
# The limiter's reach (look-ahead, and half its smoothing) and hold: short, so that limiting the
# peaks of a loud master costs little loudness (0.2-0.4 LU at -8 LUFS, +0.7 dBTP, measured),
# and long enough together (19 ms) to hold the gain steady over half a period down to 26 Hz,
# so that the gain does not follow the waveform of a bass note (no distortion).
LIMITER_REACH_S: Final = 0.004
LIMITER_HOLD_S: Final = 0.015
WARM_SATURATION: Final = 0.26  # third harmonic 0.6 % at -6 dBFS, 0.03 % at -20 dBFS
EQ_SETTLE_S: Final = 0.25  # biquad state from rest converges below 1e-10 within this


@dataclass(frozen=True, slots=True)
class TrackLevel:
    """The track-level measurements a chain is built from: the track's recorded level
    (`TrackLevelled`, see `adapters/audio/level.py`), the same for every chunk."""

    loudness_db: float = DEFAULT_LOUDNESS_DB
    peak: float = 1.0
    measured: bool = False

    @classmethod
    def of(cls, loudness_db: float, peak: float) -> TrackLevel:
        """A measured level; silence (nothing above the gate) or a non-finite one leaves the
        defaults, unmeasured."""
        if not np.isfinite(loudness_db) or loudness_db <= SILENT_LUFS:
            return cls()
        return cls(float(loudness_db), float(peak), True)


@dataclass(frozen=True, slots=True)
class Chain:
    bands: tuple[Band, ...] = ()
    compressor: Compressor | None = None
    gain_db: float = 0.0
    saturation: float = 0.0  # `dsp.saturate` amount
    limiter: Limiter = Limiter(LIMITER_CEILING, reach_s=LIMITER_REACH_S, hold_s=LIMITER_HOLD_S)

    def preroll_frames(self, sample_rate: int) -> int:
        """Input needed before the first output frame for output equal to a whole render."""
        block = block_size(sample_rate)
        blocks = self.limiter.memory_blocks(sample_rate) + 1
        if self.compressor is not None:
            blocks += self.compressor.memory_blocks(sample_rate)
        return round(EQ_SETTLE_S * sample_rate) + blocks * block

    def postroll_frames(self, sample_rate: int) -> int:
        """Input needed after the last output frame (the limiter's look-ahead)."""
        return (self.limiter.lookahead_blocks(sample_rate) + 2) * block_size(sample_rate)


def chain_for(preset: Preset, intensity: float, level: TrackLevel) -> Chain:
    """The DSP chain of `preset` at `intensity` (0..1) for a track measured at `level`."""
    s = min(max(float(intensity), 0.0), 1.0)
    loud = level.loudness_db
    if preset == "gentle":
        return Chain(
            bands=(
                Band("low_shelf", 150.0, 1.0 * s),
                Band("peak", 2500.0, -1.5 * s, 1.0),
                Band("high_shelf", 7000.0, -3.5 * s),
            ),
            compressor=Compressor(loud + 4.0, 1.0 + 0.6 * s, 10.0, 0.05, 0.05, 0.2),
        )
    if preset == "warm":
        return Chain(
            bands=(
                Band("low_shelf", 120.0, 4.0 * s),
                Band("peak", 300.0, 1.5 * s, 0.8),
                Band("high_shelf", 6000.0, -3.0 * s),
            ),
            saturation=WARM_SATURATION * s,
        )
    if preset == "bright":
        return Chain(
            bands=(
                Band("high_pass", 25.0),  # subsonic: fixed, inaudible, keeps the shelves honest
                Band("low_shelf", 200.0, -1.5 * s),
                Band("peak", 3000.0, 2.0 * s, 1.0),
                Band("high_shelf", 8000.0, 5.0 * s),
            ),
            gain_db=1.0 * s,  # the lifted top makes the limiter work: keep a loud master's level
        )
    if preset == "punchy":
        return Chain(
            bands=(
                Band("high_pass", 25.0),
                Band("low_shelf", 90.0, 3.0 * s),
                Band("peak", 400.0, -2.0 * s, 1.0),
                Band("peak", 4000.0, 2.0 * s, 1.0),
            ),
            compressor=Compressor(loud - 2.0, 1.0 + 2.0 * s, 6.0, 0.03, 0.02, 0.06, 3.0 * s),
        )
    if preset == "adaptive":
        gain = min(max(TARGET_LOUDNESS_DB - loud, -12.0), 9.0) if level.measured else 0.0
        return Chain(
            compressor=Compressor(loud + 6.0, 1.0 + 1.0 * s, 8.0, 0.04, 0.04, 0.15),
            gain_db=gain * s,
        )
    raise ValueError(f"unknown preset {preset!r}")


def run_chain(x: Signal, chain: Chain, sample_rate: int, origin: int = 0) -> Signal:
    """Process (channels, frames) float32 (a view will do: the chain's first stage copies it)
    whose first frame is frame `origin` of the track, a multiple of the block size; a new
    C-contiguous (channels, frames) array. Frames are padded with silence to whole blocks,
    then cut back.

    After the equaliser's copy every stage works in place: the compressor's gain and the
    fixed gain are one multiplication, saturation and the limiter's gain write back.
    """
    block = block_size(sample_rate)
    frames = x.shape[1]
    pad = -frames % block
    if pad:
        x = np.pad(x, ((0, 0), (0, pad)))
    y = equalise(x, chain.bands, sample_rate) if chain.bands else np.array(x, order="C")
    cancel.checkpoint()
    gain = np.float32(10.0 ** (chain.gain_db / 20.0))
    if chain.compressor is not None:
        compression = chain.compressor.gain(block_power(y, block), sample_rate)
        apply_gain(y, compression * float(gain), block, out=y)
    elif chain.gain_db:
        y *= gain
    saturate(y, chain.saturation, out=y)
    cancel.checkpoint()
    limiter = chain.limiter
    peaks = block_true_peaks(y, block, block_peak(y, block), limiter.ceiling, origin)
    cancel.checkpoint()
    apply_gain(y, limiter.gain(peaks, sample_rate), block, out=y)
    np.clip(y, -1.0, 1.0, out=y)
    return y[:, :frames]


def render_samples(
    samples: Signal, sample_rate: int, preset: Preset, intensity_tenths: int, level: TrackLevel
) -> Signal:
    """Render (frames, channels) audio that starts at frame 0 of a track (a whole track).

    Intensity 0 returns the input itself (bit-exact); otherwise the output is a (frames,
    channels) view of the chain's (channels, frames) result, like `render_window`'s.
    """
    clean = _sanitised(samples)
    if intensity_tenths <= 0:
        return clean
    chain = chain_for(preset, intensity_tenths / 10.0, level)
    out: Signal = run_chain(clean.T, chain, sample_rate).T
    return out


def render_window(
    window: Signal,
    window_start: int,
    keep_start: int,
    keep_frames: int,
    sample_rate: int,
    chain: Chain,
) -> Signal:
    """Render a decoded window [window_start, ...) of a track and return the frames
    [keep_start, keep_start + keep_frames) of the output (shorter if the window is).

    `window_start` must be a multiple of the block size (or 0), and the window must reach at
    least `chain.preroll_frames` before `keep_start` (or start at 0) and `postroll_frames` after
    the kept part (or end with the track), for the output to equal a whole-track render.

    The output is a (frames, channels) view of the chain's (channels, frames) result: no
    transposing copy here, the 16-bit conversion of `encode_flac` makes the one it needs.
    """
    if window_start % block_size(sample_rate):
        raise ValueError(f"window start {window_start} is not on a block boundary")
    out = run_chain(_sanitised(window).T, chain, sample_rate, window_start)
    offset = keep_start - window_start
    kept: Signal = out[:, offset : offset + keep_frames].T
    return kept


def _sanitised(samples: Signal) -> Signal:
    """The input as float32 with what cannot be audio (NaN, Inf, absurd) zeroed; overs kept."""
    samples = samples.astype(np.float32, copy=False)
    # Overs up to ABSURD_LEVEL are kept as they are: only a copy with something to zero is made
    # (lossy sources have overs in nearly every window). NaN fails both comparisons.
    if samples.size and not (-ABSURD_LEVEL <= samples.min() and samples.max() <= ABSURD_LEVEL):
        samples = samples.copy()
        sanitise(samples)
    return samples
