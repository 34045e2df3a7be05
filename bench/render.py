"""Render throughput per preset and source format on one core, beside decode-only speed,
and the seam error of chunked rendering.

Usage: python bench/render.py [--seconds S] [--chunk C] [--tenths T] [--repeat R]

For each source format (generated here: a stereo 44.1 kHz track with a beat, bass, tone and
noise; Opus at 48 kHz) it measures:
  decode   seconds of audio decoded per wall second (read_chunk over every chunk);
  render   seconds of audio per wall second through render_chunk: decode with pre/post-roll,
           preset DSP, 16-bit FLAC encode, atomic write + fsync into a chunk store;
  added    (render time - decode time) / decode time: what rendering adds on top of decoding;
  per CPU s / CPU   the same in CPU time of this process: what a core spends, whatever else
           runs on the machine (fsync waits are not in it);
  seam     max |chunked - whole| of the DSP output in float (chunks joined vs one whole-track
           render), and of the stored 16-bit files (in 16-bit steps).
Every render is checked before any figure is printed: each chunk must be ChunkRendered, not
short, with the expected frame count, and its file must read back with the recorded size and
checksum. The process is pinned to one CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import NamedTuple, get_args

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import soundfile as sf  # type: ignore[import-untyped]  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.audio.analysis import analyse_track  # noqa: E402
from adapters.audio.decode import chunk_frames, read_chunk, read_frames  # noqa: E402
from adapters.audio.dsp import block_size  # noqa: E402
from adapters.audio.presets import (  # noqa: E402
    TrackLevel,
    chain_for,
    render_samples,
    render_window,
)
from adapters.audio.render import decode_flac, render_chunk  # noqa: E402
from domain.events import PRESETS, ChunkKey, ChunkRendered, Preset, TrackAnalysed  # noqa: E402
from storage.chunks import FileChunkStore  # noqa: E402

FORMATS = {
    "flac": ("FLAC", "PCM_16", 44100),
    "ogg": ("OGG", "VORBIS", 44100),
    "opus": ("OGG", "OPUS", 48000),
    "mp3": ("MP3", "MPEG_LAYER_III", 44100),
    "wav": ("WAV", "PCM_16", 44100),
}
SEAM_TARGET = 1e-4
PRESET_NAMES: tuple[Preset, ...] = get_args(Preset)
assert PRESET_NAMES == PRESETS


class Row(NamedTuple):
    ext: str
    decode_x: float  # seconds of audio decoded per wall second
    preset: str
    render_x: float  # ... rendered per wall second
    render_cpu_x: float  # ... rendered per CPU second of this process
    added: float  # (render - decode) / decode, wall clock
    added_cpu: float  # the same in CPU time
    dsp: float
    lsb: float


class BenchFailedError(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(f"benchmark run failed, no figures printed: {what}")


def music(seconds: float, rate: int, seed: int = 1) -> np.ndarray:
    n = round(seconds * rate)
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    beat = np.exp(-((t * 2.0) % 1.0) * 10.0)
    bass = 0.3 * np.sin(2 * np.pi * 55 * t) * beat
    chords = sum(0.06 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
    swell = 0.5 + 0.5 * np.sin(2 * np.pi * t / 7.0)  # quiet and loud passages
    hiss = 0.05 * rng.standard_normal((n, 2)) * beat[:, None]
    data = ((bass + chords) * swell)[:, None] + hiss
    data[:, 1] *= 0.9
    return np.clip(data, -1, 1).astype(np.float32)


def write_source(path: Path, audio: np.ndarray, rate: int, fmt: str, subtype: str) -> None:
    """Write in 1 s blocks: libsndfile 1.2.2 crashes (SIGSEGV) writing ~75 s of Opus at once."""
    with sf.SoundFile(str(path), "w", rate, audio.shape[1], subtype, format=fmt) as out:
        for start in range(0, audio.shape[0], rate):
            out.write(audio[start : start + rate])


def best_of(repeat: int, run: object) -> tuple[float, float]:
    """The shortest wall-clock and the shortest CPU time of `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        run()  # type: ignore[operator]
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def decode_all(path: Path, chunks: int, chunk_s: float) -> None:
    for index in range(chunks):
        read_chunk(path, index, chunk_seconds=chunk_s)


def render_all(
    path: Path,
    store: FileChunkStore,
    preset: Preset,
    tenths: int,
    level: TrackLevel,
    chunks: int,
    chunk_s: float,
    frames: int,
) -> list[ChunkRendered]:
    events = []
    for index in range(chunks):
        key = ChunkKey("bench", 0, preset, tenths, index)
        event = render_chunk(path, key, level, store, track_frames=frames, chunk_seconds=chunk_s)
        if not isinstance(event, ChunkRendered):
            raise BenchFailedError(f"{path.name} {preset} chunk {index}: {event}")
        events.append(event)
    return events


def check(events: list[ChunkRendered], store: FileChunkStore, frames: int, size: int) -> None:
    expected = [min(size, frames - i * size) for i in range(len(events))]
    got = [e.frames for e in events]
    if got != expected or any(e.short for e in events):
        raise BenchFailedError(f"chunk frames {got}, expected {expected}")
    for event in events:
        store.read(event.key, size=event.bytes, checksum=event.checksum)  # raises if bad


def seam_errors(
    path: Path,
    store: FileChunkStore,
    events: list[ChunkRendered],
    preset: Preset,
    tenths: int,
    level: TrackLevel,
    size: int,
) -> tuple[float, float]:
    source = read_frames(path, 0, 10**10).samples
    rate = sf.info(str(path)).samplerate
    whole = render_samples(source, rate, preset, tenths, level)
    chain = chain_for(preset, tenths / 10, level)
    block = block_size(rate)
    parts = []
    for start in range(0, source.shape[0], size):
        first = max(0, (start - chain.preroll_frames(rate)) // block * block)
        window = read_frames(path, first, start + size + chain.postroll_frames(rate) - first)
        keep = min(size, source.shape[0] - start)
        parts.append(render_window(window.samples, first, start, keep, rate, chain))
    dsp = float(np.abs(np.concatenate(parts) - whole).max())
    files = np.concatenate(
        [decode_flac(store.read(e.key, size=e.bytes, checksum=e.checksum))[0] for e in events]
    )
    stored = np.clip(np.rint(whole * 32768.0), -32768, 32767) / 32768.0
    return dsp, float(np.abs(files - stored).max() * 32768.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=75.0, help="track length")
    parser.add_argument("--chunk", type=float, default=30.0, help="chunk length in seconds")
    parser.add_argument("--tenths", type=int, default=7, help="intensity in tenths")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    rows: list[Row] = []
    worst_dsp = worst_lsb = 0.0
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for ext, (fmt, subtype, rate) in FORMATS.items():
            path = root / f"track.{ext}"
            write_source(path, music(args.seconds, rate), rate, fmt, subtype)
            *_, track = analyse_track(path, "bench", 0, chunk_seconds=args.chunk)
            assert isinstance(track, TrackAnalysed)
            if track.neutral_reason is not None or track.frames == 0:
                raise BenchFailedError(f"{ext}: analysis failed: {track}")
            level = TrackLevel.of(track.loudness_db, track.peak)
            size = chunk_frames(rate, args.chunk)
            chunks = -(-track.frames // size)
            audio_s = track.frames / rate
            decode_s, decode_cpu = best_of(
                args.repeat, partial(decode_all, path, chunks, args.chunk)
            )
            for preset in PRESET_NAMES:
                store = FileChunkStore(root / f"store-{ext}-{preset}")
                outcome: list[list[ChunkRendered]] = []
                render = partial(
                    render_all,
                    path,
                    store,
                    preset,
                    args.tenths,
                    level,
                    chunks,
                    args.chunk,
                    track.frames,
                )
                run = partial(lambda out, job: out.append(job()), outcome, render)
                render_s, render_cpu = best_of(args.repeat, run)
                check(outcome[-1], store, track.frames, size)
                dsp, lsb = seam_errors(path, store, outcome[-1], preset, args.tenths, level, size)
                worst_dsp, worst_lsb = max(worst_dsp, dsp), max(worst_lsb, lsb)
                rows.append(
                    Row(
                        ext,
                        audio_s / decode_s,
                        preset,
                        audio_s / render_s,
                        audio_s / render_cpu,
                        (render_s - decode_s) / decode_s,
                        (render_cpu - decode_cpu) / decode_cpu,
                        dsp,
                        lsb,
                    )
                )

    print(
        f"render benchmark: {args.seconds:.0f} s stereo track, {args.chunk:.0f} s chunks, "
        f"intensity {args.tenths / 10:.1f}, one CPU, best of {args.repeat}; all renders checked"
    )
    print(
        f"{'source':<6} {'decode x':>9} {'preset':<9} {'render x':>9} {'per CPU s':>9} "
        f"{'added':>7} {'CPU':>6} {'seam dsp':>9} {'seam file':>10}"
    )
    for r in rows:
        print(
            f"{r.ext:<6} {r.decode_x:>9.0f} {r.preset:<9} {r.render_x:>9.0f} "
            f"{r.render_cpu_x:>9.0f} {r.added:>6.0%} {r.added_cpu:>6.0%} {r.dsp:>9.1e} "
            f"{r.lsb:>7.0f} LSB"
        )
    print()
    for ext in ("ogg", "flac"):
        mine = [r for r in rows if r.ext == ext]
        for unit, speed, added in (
            ("wall clock", min(r.render_x for r in mine), max(r.added for r in mine)),
            ("CPU time", min(r.render_cpu_x for r in mine), max(r.added_cpu for r in mine)),
        ):
            print(
                f"{ext} in {unit}: target render >= 150x: slowest preset {speed:.0f}x "
                f"{'met' if speed >= 150 else 'MISSED'}; target render <= 2 x decode time: "
                f"worst {1 + added:.1f} x {'met' if added <= 1 else 'MISSED'}"
            )
    print(
        f"target seam <= {SEAM_TARGET:.0e}: worst {worst_dsp:.1e} in float "
        f"({'met' if worst_dsp <= SEAM_TARGET else 'MISSED'}), {worst_lsb:.0f} LSB in 16-bit files"
    )


if __name__ == "__main__":
    try:
        main()
    except BenchFailedError as e:
        print(e, file=sys.stderr)
        sys.exit(1)
