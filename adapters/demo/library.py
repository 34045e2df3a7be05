"""A small library of generated, music-like audio for `tierbuffer demo` on a fresh machine.

Each track has a tempo, a chord progression played by a soft pad, a bass line, a kick and a
hi-hat made of filtered noise, and a lead that enters and leaves, so the content features
(energy, brightness, dynamics, rhythm) differ between tracks and along each one. Deterministic:
the same files every time (seeded generator).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import soundfile as sf  # type: ignore[import-untyped]

RATE: Final = 44_100
Audio = npt.NDArray[np.float32]

# name, file, seconds, tempo, root note (MIDI), brightness of the hats (0..1), lead
TRACKS: Final = (
    ("Evening/01 Slow Tide.flac", 75.0, 72, 45, 0.2, False),
    ("Evening/02 Night Drive.ogg", 95.0, 118, 40, 0.7, True),
    ("Evening/03 Glass Room.wav", 65.0, 96, 50, 0.9, True),
    ("Evening/04 Low Sun.flac", 85.0, 84, 38, 0.4, False),
)


def _note(midi: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    hz: npt.NDArray[np.float64] = 440.0 * 2.0 ** ((midi - 69) / 12.0)
    return hz


def _track(seconds: float, tempo: int, root: int, hats: float, lead: bool, seed: int) -> Audio:
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    beat = 60.0 / tempo
    bar = 4 * beat
    progression = np.array([0, 5, 7, 3])
    chord_of = progression[(t // bar).astype(int) % 4]
    pad = np.zeros(n)
    for interval in (0, 4, 7, 12):
        pad += np.sin(2 * np.pi * _note(root + 24 + chord_of + interval) * t)
    pad *= 0.06 * (0.6 + 0.4 * np.sin(2 * np.pi * t / (2 * bar)))
    bass = 0.25 * np.sin(2 * np.pi * _note(root + chord_of) * t)
    bass *= np.exp(-((t % beat) / (0.6 * beat)))
    phase = t % beat
    kick = 0.6 * np.sin(2 * np.pi * (50 + 80 * np.exp(-phase * 30)) * phase) * np.exp(-phase * 12)
    noise = rng.standard_normal(n)
    bright = np.diff(noise, prepend=0.0) if hats > 0.5 else noise
    off = (t + beat / 2) % beat
    hat = 0.08 * hats * bright * np.exp(-off * 60)
    mix = pad + bass + kick + hat
    if lead:
        melody = (
            root + 36 + np.array([0, 3, 7, 10, 12, 10, 7, 3])[(t // (beat / 2)).astype(int) % 8]
        )
        gate = ((t // (4 * bar)) % 2 == 1).astype(float)
        mix += 0.12 * gate * np.sign(np.sin(2 * np.pi * _note(melody) * t))
    fade = np.minimum(1.0, np.minimum(t / 2.0, (seconds - t) / 3.0))
    mix *= fade
    width = 0.15 * np.sin(2 * np.pi * t / 7.0)
    stereo = np.stack([mix * (1 + width), mix * (1 - width)], axis=1)
    peak = float(np.abs(stereo).max()) or 1.0
    return (0.8 * stereo / peak).astype(np.float32)


def make_demo_library(root: Path) -> list[Path]:
    """Write the demo tracks under `root` (skipping files already there); their paths."""
    paths = []
    for seed, (name, seconds, tempo, note, hats, lead) in enumerate(TRACKS):
        path = root / name
        paths.append(path)
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        audio = _track(seconds, tempo, note, hats, lead, seed)
        temp = path.with_name(f".{path.name}.part")
        fmt = {".flac": "FLAC", ".ogg": "OGG", ".wav": "WAV"}[path.suffix]
        subtype = {"FLAC": "PCM_16", "OGG": "VORBIS", "WAV": "PCM_16"}[fmt]
        # In blocks: libsndfile's Vorbis encoder crashes on one very large write.
        with sf.SoundFile(temp, "w", RATE, 2, subtype, format=fmt) as out:
            for start in range(0, len(audio), 1 << 15):
                out.write(audio[start : start + (1 << 15)])
        temp.replace(path)
    return paths
