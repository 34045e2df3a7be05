"""Test audio made on the spot: signals, files in every format libsndfile writes, broken files."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import soundfile as sf  # type: ignore[import-untyped]

Audio = npt.NDArray[np.float32]

# extension -> (libsndfile format, subtype); Opus only runs at 8/12/16/24/48 kHz
FORMATS: Final[dict[str, tuple[str, str]]] = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "opus": ("OGG", "OPUS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}
LOSSLESS: Final = ("wav", "flac")


def sine(
    seconds: float, rate: int, freq: float = 440.0, amp: float = 0.5, channels: int = 2
) -> Audio:
    t = np.arange(round(seconds * rate)) / rate
    mono = amp * np.sin(2 * np.pi * freq * t)
    return np.repeat(mono[:, None], channels, axis=1).astype(np.float32)


def noise(seconds: float, rate: int, amp: float = 0.3, channels: int = 2, seed: int = 0) -> Audio:
    rng = np.random.default_rng(seed)
    data = amp * rng.standard_normal((round(seconds * rate), channels))
    return np.clip(data, -1, 1).astype(np.float32)


def music(seconds: float, rate: int, channels: int = 2, seed: int = 1) -> Audio:
    """Something with a beat, a bass line, a tone and noise: exercises every stage of a chain."""
    n = round(seconds * rate)
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    beat = np.exp(-((t * 2.0) % 1.0) * 12.0)  # 120 bpm decaying hits
    bass = 0.35 * np.sin(2 * np.pi * 55 * t) * beat
    tone = 0.15 * np.sin(2 * np.pi * 660 * t + 0.5 * np.sin(2 * np.pi * 3 * t))
    hiss = 0.08 * rng.standard_normal((n, channels)) * beat[:, None]
    data = (bass + tone)[:, None] + hiss
    if channels > 1:
        data[:, 1] *= 0.8
    return np.clip(data, -1, 1).astype(np.float32)


def clicks(seconds: float, rate: int, channels: int = 1, every: float = 0.25) -> Audio:
    data = np.zeros((round(seconds * rate), channels), dtype=np.float32)
    data[:: max(1, round(every * rate))] = 0.9
    return data


def silence(seconds: float, rate: int, channels: int = 2) -> Audio:
    return np.zeros((round(seconds * rate), channels), dtype=np.float32)


def write(path: Path, audio: Audio, rate: int, ext: str | None = None) -> Path:
    fmt, subtype = FORMATS[ext or path.suffix[1:]]
    sf.write(str(path), audio, rate, format=fmt, subtype=subtype)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def damage(path: Path, at: float = 0.5, length: int = 2000, seed: int = 3) -> Path:
    data = bytearray(path.read_bytes())
    start = int(len(data) * at)
    junk = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    data[start : start + length] = junk[: len(data) - start]
    path.write_bytes(bytes(data))
    return path


def strip_xing(source: Path, target: Path) -> Path:
    """An MP3 without its Xing/Info frame: libsndfile must then estimate the length."""
    data = source.read_bytes()
    tag = max(data.find(b"Xing"), data.find(b"Info"))
    assert tag > 0, "the encoder wrote no Xing/Info frame"
    frame = data.rfind(b"\xff", 0, tag)
    header = data[frame : frame + 2]
    following = data.find(header, frame + 4)
    target.write_bytes(data[:frame] + data[following:])
    return target


def programme(seconds: float, rate: int, seed: int = 0) -> Audio:
    """A band's worth of music: kick and bass on the beat, a five-note chord, hi-hats, a little
    noise; unnormalised (peaks around 1.5)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n) / rate
    phase = (t * 2.0) % 1.0  # 120 bpm
    kick = np.sin(2 * np.pi * 50 * t * (1 + 0.6 * np.exp(-phase * 30))) * np.exp(-phase * 8)
    bass = 0.4 * np.sin(2 * np.pi * 55 * t) * (0.6 + 0.4 * np.exp(-phase * 4))
    notes = (220.0, 277.2, 329.6, 440.0, 554.4)
    chord = sum(0.12 * np.sin(2 * np.pi * f * t + i) for i, f in enumerate(notes))
    hats = 0.25 * rng.standard_normal(n) * np.exp(-((t * 4.0) % 1.0) * 40)
    left = 0.9 * kick + bass + chord + hats + 0.01 * rng.standard_normal(n)
    right = 0.9 * kick + bass + 0.8 * chord + np.roll(hats, 90) + 0.01 * rng.standard_normal(n)
    return np.stack([left, right], axis=1).astype(np.float32)


def loud_master(seconds: float, rate: int, seed: int = 0) -> Audio:
    """A modern loud master: the programme pushed 9.5 dB into a brick-wall limiter at 0 dBFS
    (about -8 LUFS; sample peaks at full scale, true peak about +0.7 dBTP)."""
    from adapters.audio.dsp import Limiter, apply_gain, block_peak, block_size

    x = programme(seconds, rate, seed)
    block = block_size(rate)
    frames = x.shape[0] // block * block
    pushed = np.ascontiguousarray((x[:frames] / np.abs(x).max() * 3.0).T)
    limiter = Limiter(1.0, reach_s=0.005, hold_s=0.02)
    out = apply_gain(pushed, limiter.gain(block_peak(pushed, block), rate), block)
    return np.clip(out, -1.0, 1.0).T.astype(np.float32)


def quiet_master(seconds: float, rate: int, seed: int = 0) -> Audio:
    """A dynamic master with peaks at -12 dBFS (around -27 LUFS)."""
    x = programme(seconds, rate, seed)
    return (x / np.abs(x).max() * 10 ** (-12 / 20)).astype(np.float32)
