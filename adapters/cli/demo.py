"""`tierbuffer demo`: the real service on a generated (or given) library with a scripted listener.

Every library gets its own demo database (data folder) and chunks (cache folder), so a demo on
your music never touches the generated demo's log or files; `--fresh` starts it over. Before it
creates anything it checks the library folder and the database, so a refused demo leaves
nothing behind. It says what it does while it generates, scans and plays, and ends with the
session's figures read back from the log, the same rows `tierbuffer report` shows.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from adapters.cli import settings
from adapters.cli.service import add_runtime_options, service_config
from adapters.errors import AdapterError

if TYPE_CHECKING:
    from adapters.audit.stats import Row
    from adapters.demo.session import DemoTally
    from adapters.library.scan import ScanResult
    from domain.state import State
    from storage.location import Location

WAIT_S = 20.0
WORKERS_UP_S = 30.0  # the demo plays anyway after this long


class DemoError(AdapterError):
    """The demo cannot run as asked; nothing was created."""


@dataclass(frozen=True, slots=True)
class Places:
    library: Path
    generated: bool
    db: Location  # an SQLite file, or a PostgreSQL database named by --db or $TIERBUFFER_DB
    chunks: Path
    own: tuple[Path, ...]  # the folders that are the demo's alone (what --fresh deletes)


def _speed(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.1 <= number <= 100:
        raise argparse.ArgumentTypeError("must be between 0.1 and 100")
    return number


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the real service on a small generated library (or --library) with a scripted "
        "listener, then print hits per tier, waits, renders and failures",
    )
    p.add_argument(
        "--library",
        type=Path,
        default=None,
        metavar="DIR",
        help="play your own library instead (the first four tracks of a minute or more; "
        "default: a generated one, in the cache folder)",
    )
    p.add_argument(
        "--speed",
        type=_speed,
        default=10.0,
        help="listen this many times faster than real time, 0.1 to 100 (default: 10)",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="delete this library's demo log and chunks first, and start over (default: "
        "carry on from the last demo)",
    )
    add_runtime_options(p)
    p.set_defaults(run=demo, log_level_default="warning")  # the demo narrates on stdout


def _key(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:8]


def places(args: argparse.Namespace) -> Places:
    """Where this demo keeps its library, log and chunks. A database named by `--db` or
    `$TIERBUFFER_DB` is used as given (the config file's `db` is the service's, not the demo's)."""
    import re

    data = settings.data_home() / "tierbuffer" / "demo"
    cache = settings.cache_home() / "tierbuffer" / "demo"
    if args.library is None:
        library, key = cache / "library", "generated"
    else:
        library = args.library.expanduser().absolute()
        slug = re.sub(r"[^A-Za-z0-9]+", "-", library.name).strip("-").lower() or "library"
        key = f"{slug}-{_key(str(library))}"
    db: Location
    if args.sources.get("db") in ("flag", "env"):
        given = args.db
        db = given if not isinstance(given, Path) else given.expanduser().absolute()
        key = f"db-{_key(str(db) if isinstance(db, Path) else db.url)}"
        own: tuple[Path, ...] = (cache / key,)
    else:
        db = data / key / "tierbuffer.db"
        own = (data / key, cache / key)
    return Places(library, args.library is None, db, cache / key / "chunks", own)


def invocation(argv0: str | None = None) -> str:
    """How to run this tierbuffer again from a shell, as it was run now."""
    import shlex
    import shutil

    program = Path(argv0 if argv0 is not None else sys.argv[0])
    if program.name == "tierbuffer":
        found = shutil.which("tierbuffer")
        if found is not None and Path(found).absolute() == program.absolute():
            return "tierbuffer"
        return shlex.quote(str(program.absolute()))
    return f"{shlex.quote(sys.executable)} -m adapters.cli"


async def _start_over(where: Places, explicit_db: bool) -> None:
    from adapters.runtime.lock import ServiceLock

    if explicit_db:
        raise DemoError(
            f"--fresh deletes only the demo's own log, not a database you named: "
            f"delete {where.db} yourself, or drop --db"
        )
    if isinstance(where.db, Path) and where.db.parent.is_dir():
        with ServiceLock(where.db):  # refused while a demo runs on it
            _remove(where.own)
    _remove(where.own)


def _remove(folders: tuple[Path, ...]) -> None:
    import shutil

    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _check_library(where: Places) -> None:
    from adapters.library.paths import root_problem

    problem = None if where.generated else root_problem(where.library)
    if problem is not None:
        raise DemoError(f"library folder {where.library} {problem}")


async def _check_log(where: Places) -> None:
    from adapters.preflight import check_cache_dir, check_log

    await check_log(where.db)
    check_cache_dir(where.chunks)


def _generate(where: Places, out: TextIO) -> None:
    from adapters.demo.library import TRACKS, make_demo_library

    missing = [t for t in TRACKS if not (where.library / t.name).exists()]
    if not missing:
        return
    out.write(f"generating the demo library in {where.library} ({len(missing)} tracks)\n")
    out.flush()
    began = time.perf_counter()

    def told(done: int, total: int, name: str, seconds: float) -> None:
        length = f"{int(seconds) // 60}:{int(seconds) % 60:02d}"
        took = time.perf_counter() - began
        out.write(f"  {done}/{total} {name} ({length}) after {took:.1f} s\n")
        out.flush()

    make_demo_library(where.library, progress=told)


async def _scan(where: Places, out: TextIO) -> int:
    """Scan the library into the demo's log; the number of tracks the log then knows."""
    from adapters.cli.library import append_scan, scan_against_log

    out.write(f"scanning {where.library}\n")
    out.flush()
    shown = [time.monotonic()]

    def told(done: int, total: int) -> None:
        now = time.monotonic()
        if now - shown[0] >= 2.0 and done < total:
            shown[0] = now
            out.write(f"  {done}/{total} files\n")
            out.flush()

    state, result = await scan_against_log(where.db, where.library, progress=told)
    s = result.stats
    out.write(
        f"  {s.files} audio files in {s.seconds:.1f} s: {s.added} added, {s.modified} modified, "
        f"{s.deleted} deleted, {s.unreadable} unreadable, {s.unchanged} unchanged\n"
    )
    if not _long_enough(state, result):
        raise DemoError(
            f"no readable track of a minute or more in {where.library}; nothing was created"
        )
    await append_scan(where.db, result)
    return s.files - s.unreadable


def _long_enough(state: State, result: ScanResult) -> bool:
    """Whether the library, once the scan is in the log, has a track the demo would play."""
    from adapters.demo import MIN_TRACK_MS
    from domain.events import TrackAdded, TrackDeleted, TrackModified

    lengths = {track: t.duration_ms for track, t in state.tracks.items()}
    for new in result.events:
        event = new.event
        if isinstance(event, TrackAdded | TrackModified):
            lengths[event.track] = event.duration_ms
        elif isinstance(event, TrackDeleted):
            lengths.pop(event.track, None)
    return any(ms >= MIN_TRACK_MS for ms in lengths.values())


async def demo(args: argparse.Namespace, out: TextIO) -> int:
    """Check, generate, scan, play, then the figures from the log."""
    import anyio

    started = time.perf_counter()
    where = places(args)
    _check_library(where)
    if args.fresh:
        await _start_over(where, args.sources.get("db") in ("flag", "env"))
    await _check_log(where)
    if where.generated:
        await anyio.to_thread.run_sync(_generate, where, out)
    await _scan(where, out)
    from adapters.bootstrap import service
    from adapters.demo.session import play_session, playable

    config = service_config(args, where.db, where.library, where.chunks)
    out.write(f"starting the service: log {where.db}, {args.workers} render workers\n")
    starting = time.perf_counter()
    async with service(config) as running:
        # A background service is up long before its listener presses play: the demo waits for
        # its workers too, so the first chunk shows a render, not the workers' start.
        with anyio.move_on_after(WORKERS_UP_S):
            await running.scheduler.pool.up.wait()
        out.write(f"render workers up in {time.perf_counter() - starting:.1f} s\n")
        tracks = playable(running.app.state)
        out.write(f"playing {len(tracks)} tracks at {args.speed:g}x speed\n\n")
        tally = await play_session(running, out, speed=args.speed, wait_s=WAIT_S)
    return await _finish(where, tally, started, out)


async def _finish(where: Places, tally: DemoTally, started: float, out: TextIO) -> int:
    """The figures of this session, read back from the log after the service stopped."""
    import anyio

    from adapters.audit.report import fold_report
    from adapters.audit.stats import session_stats, stats_rows, table
    from adapters.bootstrap import open_log
    from adapters.demo.session import demo_rows
    from storage.projector import verify

    async with open_log(where.db, create=False, migrate=False, read_only=True) as log:
        checked = await verify(log.events, log.snapshots)
        sessions = await fold_report(log)
    files, size = await anyio.to_thread.run_sync(_chunk_files, where.chunks)
    rows: list[Row] = [
        *stats_rows(session_stats(sessions[-1])),
        *demo_rows(tally, WAIT_S),
        ("log", f"{where.db} ({checked.events} events)"),
        ("chunks", f"{where.chunks} ({files} files, {size / 1e6:.1f} MB)"),
        ("took", f"{time.perf_counter() - started:.1f} s"),
    ]
    verdict = "ok" if checked.ok else "FAILED"
    out.write(f"\n{table(rows)}\n\nverify: {verdict} ({checked.events} events checked)\n")
    out.write(_look_inside(where.db, where.chunks.parent))
    return 0 if checked.ok else 1


def _chunk_files(folder: Path) -> tuple[int, int]:
    sizes = [p.stat().st_size for p in folder.rglob("*.flac") if p.is_file()]
    return len(sizes), sum(sizes)


def _look_inside(db: Location, beside: Path) -> str:
    """How to look at the log; the report goes beside an SQLite log, else in `beside`."""
    import shlex

    run = f"{invocation()} --db {shlex.quote(str(db))}"
    report = shlex.quote(str((db.parent if isinstance(db, Path) else beside) / "report.html"))
    return (
        "\nlook inside:\n"
        f"  {run} log --type ChunkRequested\n"
        f"  {run} state\n"
        f"  {run} report --out {report}\n"
    )
