"""Library scan throughput and watcher latency, on generated files in a temporary folder.

Usage: python bench/scan.py [--files N] [--changes C] [--debounce S]

Prints, for N small WAV files (0.1 s, 8 kHz mono) in folders of 100:
  (a) first scan: files/s (every file fingerprinted and probed);
  (b) repeat scan of the unchanged library: files/s (stat only);
  (c) from a file change on disk to its event acknowledged by the SQLite log, through a running
      `LibraryWatcher` (real watchdog observer): p50/p99 over C changes, one at a time.
Each figure is printed only after its results are checked: N distinct TrackAdded events, then
no events and N unchanged, then exactly one TrackModified of the right track per change.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import anyio
import numpy as np
import soundfile as sf  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.bootstrap import open_log, sources  # noqa: E402
from adapters.library.index import LibraryIndex  # noqa: E402
from adapters.library.scan import scan  # noqa: E402
from adapters.library.watch import LibraryWatcher  # noqa: E402
from bench._common import percentile  # noqa: E402
from domain.events import NewEvent, TrackAdded, TrackModified  # noqa: E402


class BenchFailedError(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(f"benchmark check failed: {what}")


def generate(root: Path, files: int) -> list[Path]:
    """`files` valid WAVs, each with different samples (so different content hashes)."""
    template_path = root.parent / "template.wav"
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, (800, 1)).astype(np.float32)
    sf.write(str(template_path), noise, 8000, subtype="PCM_16")
    template = bytearray(template_path.read_bytes())
    paths = []
    for i in range(files):
        folder = root / f"artist {i // 1000:02d}" / f"album {i // 100 % 10:02d}"
        if i % 100 == 0:
            folder.mkdir(parents=True)
        template[-8:] = i.to_bytes(8, "little")
        path = folder / f"{i:05d} track.wav"
        path.write_bytes(template)
        paths.append(path)
    return paths


def check(condition: bool, what: str) -> None:
    if not condition:
        raise BenchFailedError(what)


async def scans(root: Path, files: int) -> LibraryIndex:
    wired = sources()
    clock, ids = wired.clock, wired.new_id
    index = LibraryIndex()
    t0 = time.perf_counter()
    first = await scan(root, index, now_ms=clock, new_id=ids)
    first_s = time.perf_counter() - t0
    added = [e.event for e in first.events if isinstance(e.event, TrackAdded)]
    check(len(added) == files == len(first.events), f"first scan: {len(added)} added of {files}")
    check(len({e.track for e in added}) == files, "first scan: track ids not distinct")
    t0 = time.perf_counter()
    again = await scan(root, index, now_ms=clock, new_id=ids)
    again_s = time.perf_counter() - t0
    check(not again.events and again.stats.unchanged == files, "repeat scan found changes")
    print(f"first scan   {files} files  {first_s:6.2f} s  {files / first_s:8.0f} files/s")
    print(f"repeat scan  {files} files  {again_s:6.2f} s  {files / again_s:8.0f} files/s")
    return index


async def latency(
    root: Path, paths: list[Path], index: LibraryIndex, changes: int, debounce: float
) -> None:
    wired = sources()
    clock, ids = wired.clock, wired.new_id
    arrived: dict[str, float] = {}
    got = anyio.Event()
    db = root.parent / "log.db"
    async with open_log(db, create=True, migrate=True) as log:

        async def deliver(events: Sequence[NewEvent]) -> None:
            nonlocal got
            await log.events.append(events)
            now = time.perf_counter()
            for e in events:
                if not isinstance(e.event, TrackModified):
                    raise BenchFailedError(f"unexpected {e.event!r}")
                arrived[e.event.track] = now
            got.set()
            got = anyio.Event()

        watcher = LibraryWatcher(
            root, index, deliver, now_ms=clock, new_id=ids, debounce_s=debounce
        )
        samples: list[float] = []
        async with anyio.create_task_group() as tg:
            await tg.start(watcher.run)
            step = max(1, len(paths) // changes)
            for path in paths[::step][:changes]:
                rel = path.relative_to(root).as_posix()
                track = index.tracks[rel].track
                data = bytearray(path.read_bytes())
                data[-16] ^= 0xFF
                t0 = time.perf_counter()
                path.write_bytes(data)
                with anyio.fail_after(10):
                    while track not in arrived:
                        await got.wait()
                samples.append(arrived.pop(track) - t0)
                check(not arrived, f"events for other tracks: {sorted(arrived)}")
            tg.cancel_scope.cancel()
    check(len(samples) == changes, f"{len(samples)} of {changes} changes seen")
    p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
    print(
        f"change -> event in the log  {changes} changes  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
        f"  (debounce {debounce * 1000:.0f} ms)"
    )


async def main_async(files: int, changes: int, debounce: float) -> None:
    with tempfile.TemporaryDirectory(prefix="tierbuffer-scan-") as tmp:
        root = Path(tmp) / "library"
        root.mkdir()
        t0 = time.perf_counter()
        paths = generate(root, files)
        print(f"generated {files} WAV files in {time.perf_counter() - t0:.1f} s")
        index = await scans(root, files)
        await latency(root, paths, index, changes, debounce)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--debounce", type=float, default=0.3, help="watcher debounce, seconds")
    args = parser.parse_args()
    try:
        anyio.run(main_async, args.files, args.changes, args.debounce, backend="asyncio")
    except BenchFailedError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
