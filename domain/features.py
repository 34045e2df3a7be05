"""Content features of a stretch of audio (DESIGN §1), pure numpy, each in [0, 1].

From the mono mix of the samples:

- energy: min(1, 10 * RMS);
- brightness: mean |first difference| over mean |x|. For a sine of frequency f this ratio is about
  2*pi*f / sample_rate, so it is turned back into an "effective frequency" (independent of the
  sample rate) and placed on a log scale from 100 Hz (0) to 8 kHz (1);
- dynamics: crest factor (peak over RMS) in dB / 20 (a sine is 0.15, noise about 0.6, sparse
  clicks 1);
- vocals: closeness of the spectral centroid to the middle of the voice band, a bell on a log
  frequency axis centred on 1.5 kHz, one octave wide (sigma);
- rhythm: fluctuation of the 10 ms RMS envelope (its coefficient of variation), so a steady tone
  or steady noise is near 0 and a beat or tremolo far above.

Empty and non-finite audio give neutral features (0.5 each) with a reason, never an exception.
Silence (RMS below -80 dBFS) is not "unknown": it is the quietest audio there is, so its energy is
0 (the other features, undefined without a signal, stay neutral) and its reason is "silent".
Absurd magnitudes (up to float32's largest) are measured in float64 and cannot overflow; each
value is clamped to [0, 1].
"""

from __future__ import annotations

import math
from typing import Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from domain.content import NEUTRAL
from domain.content import Features as Features  # re-exported: analysis imports it from here
from domain.content import neutral as neutral
from domain.content import silent as silent

NeutralReason: TypeAlias = Literal["empty", "silent", "non_finite", "unreadable"]

SILENCE_RMS: Final = 1e-4  # -80 dBFS
_BRIGHT_LOW_HZ: Final = 100.0
_BRIGHT_HIGH_HZ: Final = 8000.0
_VOICE_CENTRE_HZ: Final = 1500.0
_VOICE_WIDTH_OCTAVES: Final = 1.0
_SPECTRUM_FRAME: Final = 4096
_SPECTRUM_FRAMES: Final = 64  # frames averaged for the centroid: enough for a stable estimate


def _unit(value: float) -> float:
    if not math.isfinite(value):
        return NEUTRAL
    return min(1.0, max(0.0, value))


def mono_mix(samples: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """(frames,) or (frames, channels) as a float64 mono mix."""
    data = np.asarray(samples, dtype=np.float64)
    if data.ndim == 2:
        return data.mean(axis=1) if data.shape[1] else np.zeros(data.shape[0])
    return data.reshape(-1)


def chunk_features(samples: npt.NDArray[np.floating], sample_rate: int) -> Features:
    """Features of (frames, channels) or (frames,) audio at `sample_rate`."""
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, not {sample_rate}")
    data = np.asarray(samples)
    if data.size == 0:
        return neutral("empty")
    if not np.isfinite(data).all():  # before mixing: inf + -inf would be a NaN (and a warning)
        return neutral("non_finite")
    mono = mono_mix(data)
    peak = float(np.abs(mono).max())
    scale = peak if peak > 1.0 else 1.0  # all but energy are scale-free: keep squares finite
    mono = mono / scale
    unit_rms = float(np.sqrt(np.mean(mono * mono)))
    rms = unit_rms * scale
    if rms < SILENCE_RMS:
        return silent()
    return Features(
        energy=_unit(10.0 * rms),
        brightness=_brightness(mono, sample_rate),
        dynamics=_unit(math.log10(peak / scale / unit_rms)),
        vocals=_vocals(mono, sample_rate),
        rhythm=_rhythm(mono, sample_rate),
    )


def _brightness(mono: npt.NDArray[np.float64], sample_rate: int) -> float:
    if mono.size < 2:
        return NEUTRAL
    ratio = float(np.abs(np.diff(mono)).mean()) / float(np.abs(mono).mean())
    frequency = ratio * sample_rate / (2.0 * math.pi)
    if frequency <= 0.0:
        return 0.0
    span = math.log2(_BRIGHT_HIGH_HZ / _BRIGHT_LOW_HZ)
    return _unit(math.log2(frequency / _BRIGHT_LOW_HZ) / span)


def _vocals(mono: npt.NDArray[np.float64], sample_rate: int) -> float:
    size = min(_SPECTRUM_FRAME, mono.size)
    count = mono.size // size
    step = max(1, count // _SPECTRUM_FRAMES)
    frames = mono[: count * size].reshape(count, size)[::step]
    power = (np.abs(np.fft.rfft(frames * np.hanning(size), axis=1)) ** 2).sum(axis=0)
    total = float(power.sum())
    if total <= 0.0:
        return NEUTRAL
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)
    centroid = float((freqs * power).sum()) / total
    if centroid <= 0.0:
        return 0.0
    octaves = math.log2(centroid / _VOICE_CENTRE_HZ) / _VOICE_WIDTH_OCTAVES
    return _unit(math.exp(-0.5 * octaves * octaves))


def _rhythm(mono: npt.NDArray[np.float64], sample_rate: int) -> float:
    frame = max(1, sample_rate // 100)
    count = mono.size // frame
    if count < 4:
        return NEUTRAL
    view = mono[: count * frame].reshape(count, frame)
    envelope = np.sqrt((view * view).mean(axis=1))
    mean = float(envelope.mean())
    if mean <= 0.0:
        return NEUTRAL
    return _unit(float(envelope.std()) / mean)
