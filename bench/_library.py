"""Libraries of music-like tracks in every codec the service reads, made once and kept.

Each track is the demo's music generator (chords, bass, drums, a lead that comes and goes) at a
seeded tempo and key, encoded by libsndfile as FLAC, Ogg Vorbis, Ogg Opus (48 kHz), MP3 or WAV.
Everything is made under `~/.cache/tierbuffer-bench/` the first time and reused after:

- `library-<n>`: n tracks of two to five minutes, the five codecs in turn (a minute or two);
- `compressed-<n>-of-<p>`: n files in artist/album folders of 100, hard links to a pool of p
  distinct one-to-six-minute encodes (`pool-long`, the compressed codecs in turn);
- `mixed-<n>`: n files in artist/album folders of 100, each album 94 hard links to five 20-40 s
  encodes (`pool-short`: FLAC, Vorbis, Opus, MP3, WAV), three damaged files (an empty `.mp3`,
  random bytes named `.flac`, an Ogg Vorbis file cut at 60 %) and three that are not audio
  (`cover.jpg`, `notes.txt`, `album.cue`).

Hard links make a library of thousands of files cost a few encodes and no disk space. The scan
does not look for equal content (a fingerprint is size, mtime and the first and last 64 KiB; a
track id comes from the path and the content), so every link is a file of its own.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import numpy as np
import soundfile as sf  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.demo.library import DemoTrack, _track  # noqa: E402

#: extension -> (libsndfile format, subtype, sample rate)
CODECS: Final = {
    "flac": ("FLAC", "PCM_16", 44_100),
    "ogg": ("OGG", "VORBIS", 44_100),
    "opus": ("OGG", "OPUS", 48_000),
    "mp3": ("MP3", "MPEG_LAYER_III", 44_100),
    "wav": ("WAV", "PCM_16", 44_100),
}
COMPRESSED: Final = ("flac", "ogg", "opus", "mp3")
EVERY: Final = (*COMPRESSED, "wav")
#: Per album of 100 in `mixed-<n>`: the last six names, damaged then not audio.
DAMAGED: Final = ("empty.mp3", "noise.flac", "cut.ogg")
NOT_AUDIO: Final = ("cover.jpg", "notes.txt", "album.cue")
ALBUM: Final = 100
CACHE: Final = Path.home() / ".cache" / "tierbuffer-bench"
#: Length of the tracks of each pool, seconds (a uniform draw per track).
SHORT: Final = (20.0, 40.0)
LONG: Final = (60.0, 360.0)


def make_library(tracks: int = 10, root: Path | None = None) -> Path:
    """`tracks` tracks, the codecs in turn; returns the folder."""
    folder = root or CACHE / f"library-{tracks}"
    for n in range(tracks):
        ext = list(CODECS)[n % len(CODECS)]
        path = folder / f"{n:02d} track.{ext}"
        if not path.exists():
            _write(path, n, ext)
    return folder


def make_linked(files: int, *, pool: int) -> Path:
    """`CACHE/compressed-<files>-of-<pool>`: `files` hard links, in artist/album folders of 100,
    to `pool` distinct one-to-six-minute encodes (the compressed codecs in turn)."""
    sources = make_pool(pool, long=True)
    return _linked(CACHE / f"compressed-{files}-of-{pool}", files, lambda i: sources[i % pool])


def make_mixed(files: int) -> Path:
    """`CACHE/mixed-<files>`: per album of 100, 94 hard links to the five short encodes
    (every codec), then the `DAMAGED` files and the `NOT_AUDIO` ones (see the module)."""
    audio = make_pool(len(EVERY), long=False, codecs=EVERY)
    odd = _odd_files(audio[EVERY.index("ogg")])
    kept = ALBUM - len(odd)

    def source(i: int) -> Path:
        slot = i % ALBUM
        return audio[i % len(audio)] if slot < kept else odd[slot - kept]

    return _linked(CACHE / f"mixed-{files}", files, source)


def mixed_counts(files: int) -> tuple[int, int, int]:
    """Of `mixed-<files>`: (good audio files, damaged files, files that are not audio)."""
    albums, rest = divmod(files, ALBUM)
    kept = ALBUM - len(DAMAGED) - len(NOT_AUDIO)
    damaged = albums * len(DAMAGED) + max(0, min(len(DAMAGED), rest - kept))
    other = albums * len(NOT_AUDIO) + max(0, rest - kept - len(DAMAGED))
    return files - damaged - other, damaged, other


def _linked(folder: Path, files: int, source: Callable[[int], Path]) -> Path:
    done = folder / ".complete"  # hidden: the scan ignores it
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    for i in range(files):
        album = folder / f"artist {i // 1000:03d}" / f"album {i // ALBUM % 10:02d}"
        if i % ALBUM == 0:
            album.mkdir(parents=True)
        chosen = source(i)
        name = f"{i:05d} track{chosen.suffix}" if chosen.parent.name != "odd" else chosen.name
        os.link(chosen, album / name)
    done.touch()
    return folder


def _odd_files(ogg: Path) -> list[Path]:
    """`CACHE/odd/`: the `DAMAGED` files (the cut one from `ogg`), then the `NOT_AUDIO` ones."""
    folder = CACHE / "odd"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    whole = ogg.read_bytes()
    contents = {
        "empty.mp3": b"",
        "noise.flac": rng.bytes(64 * 1024),
        "cut.ogg": whole[: len(whole) * 6 // 10],
        "cover.jpg": b"\xff\xd8\xff\xe0" + rng.bytes(30 * 1024),
        "notes.txt": b"Recorded live.\n",
        "album.cue": b'FILE "album.flac" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n',
    }
    paths = []
    for name in (*DAMAGED, *NOT_AUDIO):
        path = folder / name
        if not path.exists() or path.read_bytes() != contents[name]:
            path.write_bytes(contents[name])
        paths.append(path)
    return paths


def make_pool(count: int, *, long: bool, codecs: tuple[str, ...] = COMPRESSED) -> list[Path]:
    """`count` distinct tracks under `CACHE/pool-long` or `pool-short`, `codecs` in turn; made
    two at a time (numpy and the encoders release the GIL)."""
    folder = CACHE / ("pool-long" if long else "pool-short")
    seconds, first = (LONG, 10_000) if long else (SHORT, 20_000)  # seeds: no shared content
    paths = [folder / f"{n:03d}.{codecs[n % len(codecs)]}" for n in range(count)]
    todo = [(n, path) for n, path in enumerate(paths) if not path.exists()]
    if todo:
        print(f"encoding {len(todo)} tracks into {folder} (once)", file=sys.stderr)
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as workers:
        jobs = [
            workers.submit(_write, path, first + n, path.suffix[1:], seconds) for n, path in todo
        ]
        for job in jobs:
            job.result()
    return paths


def _write(
    path: Path, seed: int, ext: str, seconds_range: tuple[float, float] = (120, 300)
) -> None:
    fmt, subtype, rate = CODECS[ext]
    rng = np.random.default_rng(seed)
    seconds = float(rng.uniform(*seconds_range))
    tempo, root = int(rng.integers(70, 140)), int(rng.integers(36, 52))
    spec = DemoTrack(path.name, seconds, tempo, root, float(rng.uniform(0.1, 1.0)), bool(seed % 2))
    audio = _track(spec, seed)
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
