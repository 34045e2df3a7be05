"""Audio files written by the tests: tiny noise for the library, music-like tracks for renders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import numpy as np
import soundfile as sf  # type: ignore[import-untyped]

RATE: Final = 16_000


def write_audio(
    path: Path, *, seconds: float = 0.2, rate: int = 8000, seed: int = 0, fmt: str | None = None
) -> Path:
    """A tiny noise file; the format follows the extension (wav, flac, ogg) unless `fmt`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(seed).uniform(-0.5, 0.5, (int(rate * seconds), 1))
    sf.write(str(path), noise.astype(np.float32), rate, format=fmt)
    return path


def rewrite_same_size(path: Path, seed: int) -> None:
    """New audio of exactly the same size (WAV: same frames), with a new mtime."""
    before = path.stat()
    write_audio(path, seed=seed)
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))


def write_track(path: Path, seconds: float, *, seed: int = 0) -> Path:
    """Music-like audio: a chord with a moving envelope and a little noise, as FLAC or WAV,
    written under a temporary name and renamed (a watcher never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    tone = sum(np.sin(2 * np.pi * (110 + 55 * seed) * k * t) / k for k in (1, 2, 3, 5))
    envelope = 0.5 + 0.4 * np.sin(2 * np.pi * t / (2.0 + seed))
    mix = 0.25 * tone * envelope + 0.01 * rng.standard_normal(len(t))
    temp = path.with_name(f".{path.name}.part")
    sf.write(str(temp), mix.astype(np.float32), RATE, format=path.suffix[1:].upper())
    temp.replace(path)
    return path
