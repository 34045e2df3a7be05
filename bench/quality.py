"""What each preset does to the sound, and what rendering costs beside decoding, per codec.

Usage: python bench/quality.py [--seconds S] [--repeat R] [--tenths 3,7,10] [--skip-quality]
                               [--skip-speed]

Table 1, per preset and intensity (generated signals, 44.1 kHz stereo, float output):
  THD+N    of a 997 Hz sine at -20/-12/-6/-1 dBFS (everything but the fundamental, fitted and
           removed, over the whole), the track level set from the sine's own loudness;
  TP       true peak (BS.1770-4 Annex 2) of a loud master after the preset (target <= -1 dBTP);
  dLU      integrated loudness change of a loud master (-8 LUFS, +0.7 dBTP) and a quiet one
           (-27 LUFS);
  seam     max |chunks joined - whole-track render| with 1.3 s chunks.
Table 2, per codec: decode time of a whole track through `read_chunk`, and render time through
`render_chunk` (decode with pre/post-roll + preset + FLAC encode + atomic write), measured
interleaved (decode, render, decode, render ...) so both see the same load: min / median / max,
render / decode, and seconds of audio per wall second; the same in CPU time of this process
(what a core spends, whatever else runs on the machine; fsync waits are not in it). Then the
targets of FLAC and Vorbis against the slowest preset. Every render is checked (ChunkRendered,
not short, reads back with its checksum: after its timing, the read-back is not a render's
cost) before a figure is printed. Pinned to one CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import get_args

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import soundfile as sf  # type: ignore[import-untyped]  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.audio.decode import chunk_frames, read_chunk  # noqa: E402
from adapters.audio.dsp import block_size  # noqa: E402
from adapters.audio.measure import loudness_lufs, thd_n, true_peak_db  # noqa: E402
from adapters.audio.presets import TrackLevel, chain_for, render_samples, render_window  # noqa: E402
from adapters.audio.render import render_chunk  # noqa: E402
from domain.events import ChunkKey, ChunkRendered, Preset  # noqa: E402
from storage.chunks import FileChunkStore  # noqa: E402
from tests.adapters.audio import signals  # noqa: E402

RATE = 44100
FREQ = 997.0
LEVELS_DB = (-20.0, -12.0, -6.0, -1.0)
PRESETS: tuple[Preset, ...] = get_args(Preset)
CODECS = {
    "flac": ("FLAC", "PCM_16", 44100),
    "ogg": ("OGG", "VORBIS", 44100),
    "opus": ("OGG", "OPUS", 48000),
    "mp3": ("MP3", "MPEG_LAYER_III", 44100),
}


class BenchFailedError(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(f"benchmark run failed, no figures printed: {what}")


def level_of(audio: np.ndarray, rate: int = RATE) -> TrackLevel:
    return TrackLevel(loudness_lufs(audio, rate), float(np.abs(audio).max()), True)


def seam_error(audio: np.ndarray, preset: Preset, tenths: int, level: TrackLevel) -> float:
    whole = render_samples(audio, RATE, preset, tenths, level)
    chain = chain_for(preset, tenths / 10, level)
    block, size = block_size(RATE), round(1.3 * RATE)
    parts = []
    for start in range(0, audio.shape[0], size):
        first = max(0, (start - chain.preroll_frames(RATE)) // block * block)
        last = start + size + chain.postroll_frames(RATE)
        keep = min(size, audio.shape[0] - start)
        parts.append(render_window(audio[first:last], first, start, keep, RATE, chain))
    return float(np.abs(np.concatenate(parts) - whole).max())


def quality_rows(tenths_list: list[int]) -> list[str]:
    loud, quiet = signals.loud_master(12.0, RATE), signals.quiet_master(12.0, RATE)
    loud_level, quiet_level = level_of(loud), level_of(quiet)
    tones = {db: signals.sine(2.0, RATE, FREQ, 10 ** (db / 20)) for db in LEVELS_DB}
    rows = []
    for preset in PRESETS:
        for tenths in tenths_list:
            thd = [
                thd_n(render_samples(t, RATE, preset, tenths, level_of(t)), RATE, FREQ)
                for t in tones.values()
            ]
            out_loud = render_samples(loud, RATE, preset, tenths, loud_level)
            out_quiet = render_samples(quiet, RATE, preset, tenths, quiet_level)
            d_loud = loudness_lufs(out_loud, RATE) - loud_level.loudness_db
            d_quiet = loudness_lufs(out_quiet, RATE) - quiet_level.loudness_db
            seam = seam_error(loud[: 5 * RATE], preset, tenths, loud_level)
            rows.append(
                f"{preset:<9}{tenths / 10:>4.1f} "
                + " ".join(f"{100 * v:>7.3f}" for v in thd)
                + f" {true_peak_db(out_loud):>7.2f} {d_loud:>+6.2f} {d_quiet:>+6.2f} {seam:>8.1e}"
            )
    return rows


def write_source(path: Path, audio: np.ndarray, rate: int, fmt: str, subtype: str) -> None:
    """In 1 s blocks: libsndfile 1.2.2 crashes writing ~75 s of Opus at once."""
    with sf.SoundFile(str(path), "w", rate, audio.shape[1], subtype, format=fmt) as out:
        for start in range(0, audio.shape[0], rate):
            out.write(audio[start : start + rate])


def decode_all(path: Path, chunks: int) -> None:
    for index in range(chunks):
        read_chunk(path, index)


def render_all(path: Path, store: FileChunkStore, preset: Preset, tenths: int,
               level: TrackLevel, chunks: int, events: list[ChunkRendered]) -> None:  # fmt: skip
    """Render every chunk into `store`, appending the outcomes to `events`."""
    for index in range(chunks):
        key = ChunkKey("bench", 0, preset, tenths, index)
        event = render_chunk(path, key, level, store)
        if not isinstance(event, ChunkRendered) or event.short:
            raise BenchFailedError(f"{path.name} {preset} chunk {index}: {event}")
        events.append(event)


def check_all(store: FileChunkStore, events: list[ChunkRendered]) -> None:
    """Every chunk reads back with its recorded size and checksum (outside the timing)."""
    for event in events:
        store.read(event.key, size=event.bytes, checksum=event.checksum)  # raises if bad


@dataclass(frozen=True)
class Timing:
    """Interleaved decode and render runs of one codec and preset: (wall, CPU) seconds each."""

    codec: str
    preset: str
    seconds: float  # of audio
    decode: list[tuple[float, float]]
    render: list[tuple[float, float]]

    def ratio(self, cpu: bool = False) -> float:
        """Median render / decode time of the same run (wall clock, or CPU)."""
        i = int(cpu)
        return statistics.median(r[i] / d[i] for d, r in zip(self.decode, self.render, strict=True))

    def speed(self, cpu: bool = False) -> float:
        """Seconds of audio rendered per median wall second (or CPU second)."""
        return self.seconds / statistics.median(r[int(cpu)] for r in self.render)

    def row(self) -> str:
        dec, ren = [1e3 * d[0] for d in self.decode], [1e3 * r[0] for r in self.render]
        decode_x = self.seconds / statistics.median(d[0] for d in self.decode)
        return (
            f"{self.codec:<5} {self.preset:<9} decode ms {min(dec):>4.0f}/"
            f"{statistics.median(dec):>4.0f}/{max(dec):>4.0f}  render ms {min(ren):>4.0f}/"
            f"{statistics.median(ren):>4.0f}/{max(ren):>4.0f}  render/decode "
            f"{self.ratio():>4.2f} (CPU {self.ratio(True):>4.2f})  render {self.speed():>4.0f}x "
            f"(per CPU s {self.speed(True):>4.0f}x)  decode {decode_x:>4.0f}x"
        )


def timed(run: object) -> tuple[float, float]:
    """Wall-clock and CPU seconds of `run()`."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu


def speed_timings(seconds: float, repeat: int, tenths: int) -> list[Timing]:
    timings = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for ext, (fmt, subtype, rate) in CODECS.items():
            path = root / f"track.{ext}"
            audio = signals.loud_master(seconds, rate)
            write_source(path, audio, rate, fmt, subtype)
            level = level_of(audio, rate)
            chunks = -(-audio.shape[0] // chunk_frames(rate, 30.0))
            for preset in PRESETS:
                store = FileChunkStore(root / f"{ext}-{preset}")
                decode, render = [], []
                for _ in range(repeat):  # interleaved: A, B, A, B ...
                    decode.append(timed(partial(decode_all, path, chunks)))
                    events: list[ChunkRendered] = []
                    job = partial(render_all, path, store, preset, tenths, level, chunks, events)
                    render.append(timed(job))
                    check_all(store, events)
                timings.append(Timing(ext, preset, seconds, decode, render))
    return timings


def target_rows(timings: list[Timing]) -> list[str]:
    """The issue's targets on FLAC and Vorbis: the slowest preset against each."""
    rows = []
    for codec in ("flac", "ogg"):
        mine = [t for t in timings if t.codec == codec]
        for cpu, unit in ((False, "wall clock"), (True, "CPU time")):
            ratio = max(t.ratio(cpu) for t in mine)
            speed = min(t.speed(cpu) for t in mine)
            rows.append(
                f"{codec:<5} {unit:<10}: worst render/decode {ratio:.2f} (target <= 2: "
                f"{'met' if ratio <= 2 else 'MISSED'}), slowest render {speed:.0f}x real time "
                f"(target >= 150: {'met' if speed >= 150 else 'MISSED'})"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="track length for table 2")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved runs per figure")
    parser.add_argument("--tenths", default="3,7,10", help="intensities of table 1, in tenths")
    parser.add_argument("--speed-tenths", type=int, default=7, help="intensity of table 2")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    tenths = [int(t) for t in args.tenths.split(",")]
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    quality = [] if args.skip_quality else quality_rows(tenths)
    speed = [] if args.skip_speed else speed_timings(args.seconds, args.repeat, args.speed_tenths)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    if quality:
        print("quality per preset and intensity (THD+N in %, 997 Hz sine at the level shown)")
        print(
            f"{'preset':<9}{'s':>4} {'-20dB':>7} {'-12dB':>7} {'-6dB':>7} {'-1dB':>7} "
            f"{'TP dBTP':>7} {'dLU ld':>6} {'dLU qt':>6} {'seam':>8}"
        )
        print("\n".join(quality))
    if speed:
        print(
            f"\nspeed: {args.seconds:.0f} s loud master, 30 s chunks, intensity "
            f"{args.speed_tenths / 10:.1f}, one CPU, {args.repeat} interleaved runs "
            "(min/median/max; ratios are medians of each run's own ratio); all renders checked"
        )
        print("\n".join(t.row() for t in speed))
        print("\n".join(target_rows(speed)))
    print(f"\nload average before {' '.join(load_before)}, after {' '.join(load_after)}")


if __name__ == "__main__":
    try:
        main()
    except BenchFailedError as e:
        print(e, file=sys.stderr)
        sys.exit(1)
