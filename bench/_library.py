"""A library of music-like tracks in every codec the service reads, made once and kept.

Each track is the demo's music generator (chords, bass, drums, a lead that comes and goes) at a
seeded tempo and key, two to five minutes long, encoded by libsndfile as FLAC, Ogg Vorbis, Ogg
Opus (48 kHz), MP3 or WAV. Made under `~/.cache/tierbuffer-bench/library-<n>` the first time
(encoding takes a minute or two) and reused after.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

import numpy as np
import soundfile as sf  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.demo.library import _track  # noqa: E402

#: extension -> (libsndfile format, subtype, sample rate)
CODECS: Final = {
    "flac": ("FLAC", "PCM_16", 44_100),
    "ogg": ("OGG", "VORBIS", 44_100),
    "opus": ("OGG", "OPUS", 48_000),
    "mp3": ("MP3", "MPEG_LAYER_III", 44_100),
    "wav": ("WAV", "PCM_16", 44_100),
}
CACHE: Final = Path.home() / ".cache" / "tierbuffer-bench"


def make_library(tracks: int = 10, root: Path | None = None) -> Path:
    """`tracks` tracks, the codecs in turn; returns the folder."""
    folder = root or CACHE / f"library-{tracks}"
    for n in range(tracks):
        ext = list(CODECS)[n % len(CODECS)]
        path = folder / f"{n:02d} track.{ext}"
        if not path.exists():
            _write(path, n, ext)
    return folder


def _write(path: Path, seed: int, ext: str) -> None:
    fmt, subtype, rate = CODECS[ext]
    rng = np.random.default_rng(seed)
    seconds = float(rng.uniform(120, 300))
    tempo, root = int(rng.integers(70, 140)), int(rng.integers(36, 52))
    audio = _track(seconds, tempo, root, float(rng.uniform(0.1, 1.0)), bool(seed % 2), seed)
    if rate != 44_100:  # the generator writes 44.1 kHz: resample by interpolation
        t_in = np.arange(audio.shape[0]) / 44_100
        t_out = np.arange(int(seconds * rate)) / rate
        audio = np.stack([np.interp(t_out, t_in, audio[:, c]) for c in range(2)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.part")
    with sf.SoundFile(temp, "w", rate, 2, subtype, format=fmt) as out:
        for start in range(0, audio.shape[0], 1 << 15):  # blocks: libsndfile's encoders prefer it
            out.write(audio[start : start + (1 << 15)].astype(np.float32))
    temp.replace(path)


if __name__ == "__main__":
    print(make_library(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
