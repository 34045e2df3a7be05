"""`tierbuffer scan --library DIR`: bring the log in line with a library folder, once.

The folder is checked first and scanned against what the log knows (read-only); the log is
opened for writing (and created) only when there is something to append, so a refused scan, or
one of an empty folder, leaves no database behind.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from adapters.cli import settings
from adapters.errors import AdapterError

if TYPE_CHECKING:
    from adapters.library.scan import ScanResult
    from domain.state import State
    from storage.location import Location

SHOWN_UNREADABLE = 20


class LibraryFolderError(AdapterError):
    """The library folder cannot be scanned."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"library folder {path} {reason}")
        self.path = path
        self.reason = reason


def register(subparsers: Any) -> None:
    """Add the `scan` command to the CLI's subparsers."""
    p = subparsers.add_parser(
        "scan",
        help="walk a library folder and append track added/modified/moved/deleted/unreadable "
        "events for whatever differs from the log",
    )
    settings.add(p, "library", "the library root folder (required)", metavar="DIR")
    p.add_argument(
        "--deep",
        action="store_true",
        help="fingerprint every file, even those whose size and mtime are unchanged "
        "(catches a rewrite that kept both; default: off)",
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


def check_folder(root: Path) -> None:
    from adapters.library.paths import root_problem

    problem = root_problem(root)
    if problem is not None:
        raise LibraryFolderError(root, problem)


async def scan_against_log(
    db: Location, root: Path, *, progress: Callable[[int, int], None] | None, deep: bool = False
) -> tuple[State, ScanResult]:
    """Scan `root` against what the log at `db` knows (nothing, if there is none): that state
    and the scan's events. Appends nothing, and opens the log read-only."""
    from adapters.bootstrap import open_log, sources
    from adapters.library.index import LibraryIndex, known_unreadable
    from adapters.library.paths import root_problem
    from adapters.library.scan import scan
    from adapters.preflight import log_has_content
    from domain.state import State
    from storage.projector import load_state

    wired = sources()
    state, recorded = State(), []
    if await log_has_content(db):
        async with open_log(db, create=False, migrate=False, read_only=True) as log:
            state = (await load_state(log.events, log.snapshots)).state
            recorded = [r.event async for r in log.events.read(types={"TrackUnreadable"})]
    problem = root_problem(root, len(state.tracks))
    if problem is not None:  # an empty mount point would delete every track
        raise LibraryFolderError(root, problem)
    index = LibraryIndex.from_state(state, known_unreadable(recorded))
    result = await scan(
        root, index, now_ms=wired.clock, new_id=wired.new_id, progress=progress, deep=deep
    )
    return state, result


async def append_scan(db: Location, result: ScanResult) -> int:
    """Append a scan's events (creating the log if need be); how many were new."""
    from adapters.bootstrap import DEFAULT_SNAPSHOT_EVERY, open_log, sources
    from storage.log import snapshot_if_due
    from storage.projector import load_state

    if not result.events:
        return 0
    clock = sources().clock
    async with open_log(db, create=True, migrate=True, clock=clock) as log:
        before = await log.events.last_seq()
        seqs = await log.events.append(result.events)
        loaded = await load_state(log.events, log.snapshots)
        await snapshot_if_due(log, loaded.state, every=DEFAULT_SNAPSHOT_EVERY, clock=clock)
    return sum(1 for seq in seqs if seq > before)


async def run_scan(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.preflight import check_log

    if args.library is None:
        raise LibraryFolderError(Path("(none)"), "not given: --library DIR")
    root: Path = args.library
    check_folder(root)
    await check_log(args.db)
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    bar = ProgressBar(sys.stderr) if show else None
    try:
        _, result = await scan_against_log(args.db, root, progress=bar, deep=args.deep)
    finally:
        if bar is not None:
            bar.close()
    appended = await append_scan(args.db, result)
    out.write(summary(root, result, appended))
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
    import json

    from domain.events import TrackUnreadable

    unreadable = [e.event for e in result.events if isinstance(e.event, TrackUnreadable)]
    for event in unreadable[:SHOWN_UNREADABLE]:
        detail = f": {event.detail}" if event.detail else ""
        name = json.dumps(event.path, ensure_ascii=False)
        lines.append(f"  unreadable {name} ({event.reason}{detail})")
    if len(unreadable) > SHOWN_UNREADABLE:
        lines.append(f"  ... and {len(unreadable) - SHOWN_UNREADABLE} more (tierbuffer log)")
    return "\n".join(lines) + "\n"
