"""A small library of generated, music-like audio for `tierbuffer demo` on a fresh machine.

Each track has a tempo, a chord progression played by a soft pad, a bass line, a kick and a
hi-hat made of filtered noise, and a lead that enters and leaves, so the content features
(energy, brightness, dynamics, rhythm) differ between tracks and along each one. Deterministic:
the same files every time (seeded generator).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt
import soundfile as sf  # type: ignore[import-untyped]

RATE: Final = 44_100
Audio = npt.NDArray[np.float32]
Progress = Callable[[int, int, str, float], None]  # (done, total, name, seconds)


class DemoTrack(NamedTuple):
    name: str
    seconds: float
    tempo: int
    root: int  # MIDI note
    hats: float  # brightness of the hi-hats, 0..1
    lead: bool


# Song-length tracks: each plays four to five 30 s chunks.
TRACKS: Final = (
    DemoTrack("Evening/01 Slow Tide.flac", 135.0, 72, 45, 0.2, False),
    DemoTrack("Evening/02 Night Drive.ogg", 150.0, 118, 40, 0.7, True),
    DemoTrack("Evening/03 Glass Room.wav", 125.0, 96, 50, 0.9, True),
    DemoTrack("Evening/04 Low Sun.flac", 140.0, 84, 38, 0.4, False),
)

#: The same four at 65-95 s: for benchmarks that want a library quickly (as they always had).
SHORT_TRACKS: Final = tuple(
    track._replace(seconds=seconds)
    for track, seconds in zip(TRACKS, (75.0, 95.0, 65.0, 85.0), strict=True)
)


def _note(midi: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    hz: npt.NDArray[np.float64] = 440.0 * 2.0 ** ((midi - 69) / 12.0)
    return hz


class _Clock:
    """Sample times in float64 (phases stay exact over minutes), signals in float32 (speed)."""

    def __init__(self, seconds: float) -> None:
        self.t = np.arange(int(seconds * RATE)) / RATE

    def sine(self, hz: npt.NDArray[np.float64] | float) -> Audio:
        cycles = (hz * self.t) % 1.0
        return np.sin((2 * np.pi * cycles).astype(np.float32))

    def within(self, period: float) -> Audio:
        """Seconds since the start of the current `period`."""
        return (self.t % period).astype(np.float32)


def _track(spec: DemoTrack, seed: int) -> Audio:
    rng = np.random.default_rng(seed)
    clock = _Clock(spec.seconds)
    t, n = clock.t, len(clock.t)
    beat = 60.0 / spec.tempo
    bar = 4 * beat
    chords = np.array([0, 5, 7, 3])
    chord = (t // bar).astype(np.int64) % 4  # which chord of the progression plays
    pad = np.zeros(n, np.float32)
    for interval in (0, 4, 7, 12):
        pad += clock.sine(_note(spec.root + 24 + chords + interval)[chord])
    pad *= 0.06 * (0.6 + 0.4 * clock.sine(1 / (2 * bar)))
    phase = clock.within(beat)
    bass = (
        0.25
        * clock.sine(_note(spec.root + chords)[chord])
        * np.exp(-phase / np.float32(0.6 * beat))
    )
    kick = 0.6 * np.sin(2 * np.pi * (50 + 80 * np.exp(-phase * 30)) * phase) * np.exp(-phase * 12)
    noise = rng.standard_normal(n, dtype=np.float32)
    bright = np.diff(noise, prepend=np.float32(0)) if spec.hats > 0.5 else noise
    off = ((t + beat / 2) % beat).astype(np.float32)
    mix = pad + bass + kick + np.float32(0.08 * spec.hats) * bright * np.exp(-off * 60)
    if spec.lead:
        melody = _note(spec.root + 36 + np.array([0, 3, 7, 10, 12, 10, 7, 3]))
        step = (t // (beat / 2)).astype(np.int64) % 8
        gate = ((t // (4 * bar)) % 2 == 1).astype(np.float32)
        mix += 0.12 * gate * np.sign(clock.sine(melody[step]))
    fade = np.minimum(1.0, np.minimum(t / 2.0, (spec.seconds - t) / 3.0)).astype(np.float32)
    mix *= fade
    width = 0.15 * clock.sine(1 / 7.0)
    stereo = np.stack([mix * (1 + width), mix * (1 - width)], axis=1)
    peak = float(np.abs(stereo).max()) or 1.0
    return (0.8 * stereo / peak).astype(np.float32)


def _write(path: Path, spec: DemoTrack, seed: int) -> None:
    audio = _track(spec, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.part")
    fmt = {".flac": "FLAC", ".ogg": "OGG", ".wav": "WAV"}[path.suffix]
    subtype = {"FLAC": "PCM_16", "OGG": "VORBIS", "WAV": "PCM_16"}[fmt]
    # In blocks: libsndfile's Vorbis encoder crashes on one very large write.
    with sf.SoundFile(temp, "w", RATE, 2, subtype, format=fmt) as out:
        for start in range(0, len(audio), 1 << 15):
            out.write(audio[start : start + (1 << 15)])
    temp.replace(path)


def make_demo_library(
    root: Path, *, progress: Progress | None = None, tracks: Sequence[DemoTrack] = TRACKS
) -> list[Path]:
    """Write the demo tracks under `root` (skipping files already there), two at a time (the
    synthesis runs in numpy, which releases the GIL); their paths. `progress` is told of each
    track as it is done."""
    paths = [root / spec.name for spec in tracks]
    todo = [(seed, path, spec) for seed, (path, spec) in enumerate(zip(paths, tracks, strict=True))]
    todo = [job for job in todo if not job[1].exists()]
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        running = {pool.submit(_write, path, spec, seed): spec for seed, path, spec in todo}
        for done, finished in enumerate(as_completed(running), 1):
            finished.result()
            spec = running[finished]
            if progress is not None:
                progress(done, len(todo), spec.name, spec.seconds)
    return paths
