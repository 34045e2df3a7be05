"""`tierbuffer scan --library DIR`: bring the log in line with a library folder, once."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import msgspec

from adapters.bootstrap import DEFAULT_SNAPSHOT_EVERY, open_log, sources
from adapters.cli.options import folder
from adapters.library.index import LibraryIndex, known_unreadable
from adapters.library.scan import LibraryMissingError, ScanResult, scan
from domain.events import TrackUnreadable
from storage.log import snapshot_if_due
from storage.projector import load_state

SHOWN_UNREADABLE = 20
_json = msgspec.json.Encoder()


def register(subparsers: Any) -> None:
    """Add the `scan` command to the CLI's subparsers."""
    p = subparsers.add_parser(
        "scan",
        help="walk a library folder and append track added/modified/moved/deleted/unreadable "
        "events for whatever differs from the log",
    )
    p.add_argument("--library", type=folder, required=True, metavar="DIR", help="the library root")
    p.add_argument(
        "--deep",
        action="store_true",
        help="fingerprint every file, even those whose size and mtime are unchanged "
        "(catches a rewrite that kept both)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: only when stderr is a terminal)",
    )
    p.set_defaults(run=run_scan)


class ProgressBar:
    """A one-line bar on a terminal, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._drawn < 0.1 and done < total:
            return
        self._drawn = now
        width = 30
        filled = width * done // total if total else width
        bar = "#" * filled + "-" * (width - filled)
        self._stream.write(f"\rscanning [{bar}] {done}/{total} files")
        self._stream.flush()

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


async def run_scan(args: argparse.Namespace, out: TextIO) -> int:
    wired = sources()
    root: Path = args.library
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    bar = ProgressBar(sys.stderr) if show else None
    async with open_log(args.db, create=True, migrate=True, clock=wired.clock) as log:
        loaded = await load_state(log.events, log.snapshots)
        recorded = [r.event async for r in log.events.read(types={"TrackUnreadable"})]
        index = LibraryIndex.from_state(loaded.state, known_unreadable(recorded))
        try:
            result = await scan(
                root, index, now_ms=wired.clock, new_id=wired.new_id, progress=bar, deep=args.deep
            )
        except LibraryMissingError as e:
            print(f"tierbuffer: error: {e}", file=sys.stderr)
            return 2
        finally:
            if bar is not None:
                bar.close()
        seqs = await log.events.append(result.events) if result.events else []
        if seqs:
            loaded = await load_state(log.events, log.snapshots)
            await snapshot_if_due(
                log, loaded.state, every=DEFAULT_SNAPSHOT_EVERY, clock=wired.clock
            )
    out.write(summary(root, result, len(seqs)))
    return 0


def summary(root: Path, result: ScanResult, appended: int) -> str:
    s = result.stats
    rate = s.files / s.seconds if s.seconds > 0 else 0.0
    lines = [
        f"scanned {s.files} audio files in {root} in {s.seconds:.2f} s ({rate:.0f} files/s)",
        f"  {s.added} added, {s.modified} modified, {s.moved} moved, {s.deleted} deleted, "
        f"{s.unreadable} unreadable, {s.unchanged} unchanged",
        f"  left out: {s.ignored} hidden/temporary/non-audio, {s.unsafe_links} symlinks out of "
        f"the library or into a loop, {s.bad_names} names that are not UTF-8",
        f"appended {appended} events",
    ]
    unreadable = [e.event for e in result.events if isinstance(e.event, TrackUnreadable)]
    for event in unreadable[:SHOWN_UNREADABLE]:
        detail = f": {event.detail}" if event.detail else ""
        lines.append(f"  unreadable {_json.encode(event.path).decode()} ({event.reason}{detail})")
    if len(unreadable) > SHOWN_UNREADABLE:
        lines.append(f"  ... and {len(unreadable) - SHOWN_UNREADABLE} more (tierbuffer log)")
    return "\n".join(lines) + "\n"
