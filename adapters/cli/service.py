"""`tierbuffer serve` and `tierbuffer demo`: the background service, and a scripted run of it."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import anyio

from adapters.bootstrap import (
    DEFAULT_SNAPSHOT_EVERY,
    default_db_path,
    open_log,
    serve_until_signalled,
    service,
)
from adapters.cli.options import positive
from adapters.demo.library import make_demo_library
from adapters.demo.session import play_session, report
from adapters.http.config import HttpConfig, parse_bind
from adapters.runtime.scheduler import SchedulerConfig
from adapters.runtime.service import ServiceConfig
from storage.location import Location, PgUrl
from storage.projector import verify


def default_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "tierbuffer" / "chunks"


def _speed(value: str) -> float:
    number = float(value)
    if not 0.1 <= number <= 100:
        raise argparse.ArgumentTypeError("must be between 0.1 and 100")
    return number


def _add_runtime_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=positive,
        default=os.cpu_count() or 2,
        help="render worker processes (default: one per CPU)",
    )
    p.add_argument(
        "--snapshot-every",
        type=positive,
        default=DEFAULT_SNAPSHOT_EVERY,
        help=f"write a snapshot every N events (default {DEFAULT_SNAPSHOT_EVERY})",
    )


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the background service: watch the library, render what the plan asks, "
        "until SIGTERM/SIGINT",
    )
    p.add_argument("--library", type=Path, required=True, metavar="DIR", help="the music library")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where rendered chunks go (default: $XDG_CACHE_HOME/tierbuffer/chunks)",
    )
    p.add_argument(
        "--http",
        metavar="HOST:PORT",
        default=None,
        help="serve the player API here (loopback by default; another address needs a token)",
    )
    p.add_argument(
        "--token",
        default=None,
        help="bearer token every HTTP request must carry (default: $TIERBUFFER_TOKEN)",
    )
    _add_runtime_options(p)
    p.set_defaults(run=serve)

    p = subparsers.add_parser(
        "demo",
        help="run the real service on a small generated library (or --library) with a scripted "
        "listener, then print hits per tier, waits, renders and failures",
    )
    p.add_argument(
        "--library",
        type=Path,
        default=None,
        help="use this library instead of generating one (the first four tracks are played)",
    )
    p.add_argument(
        "--speed", type=_speed, default=10.0, help="listen this many times faster than real time"
    )
    _add_runtime_options(p)
    p.set_defaults(run=demo)


def _config(
    args: argparse.Namespace, db: Location, library: Path, cache_dir: Path
) -> ServiceConfig:
    return ServiceConfig(
        db=db,
        library=library,
        cache_dir=cache_dir,
        scheduler=SchedulerConfig(workers=args.workers),
        snapshot_every=args.snapshot_every,
    )


def http_config(
    args: argparse.Namespace, environ: Mapping[str, str] = os.environ
) -> HttpConfig | None:
    """`--http HOST:PORT` and `--token` or `$TIERBUFFER_TOKEN` (a must off loopback)."""
    token = args.token or environ.get("TIERBUFFER_TOKEN") or None
    if args.http is None:
        return None
    return parse_bind(args.http, token=token)


async def serve(args: argparse.Namespace, out: TextIO) -> int:
    cache_dir = args.cache_dir or default_cache_dir()
    config = _config(args, args.db, args.library.expanduser(), cache_dir)
    await serve_until_signalled(config, http=http_config(args))
    return 0


async def demo(args: argparse.Namespace, out: TextIO) -> int:
    """Embedded defaults: everything under the data directory's `demo/` unless told otherwise."""
    where: Location = args.db
    if isinstance(where, PgUrl):  # the log on the server, the files in the data directory
        home = default_db_path({}).parent / "demo"
    else:
        home = where.parent if args.db_given else where.parent / "demo"
    db = where if args.db_given else home / "tierbuffer.db"
    library = args.library.expanduser() if args.library else home / "library"
    cache_dir = home / "chunks"
    started = time.perf_counter()
    if args.library is None:
        out.write(f"demo library: {library} (generating it the first time takes a few seconds)\n")
        await anyio.to_thread.run_sync(make_demo_library, library)
    out.write(f"starting the service: log {db}, {args.workers} render workers\n")
    async with service(_config(args, db, library, cache_dir)) as running:
        tracks = len((await running.scanned()).tracks)
        out.write(f"library scanned: {tracks} tracks; playing at {args.speed:g}x speed\n\n")
        if tracks == 0:
            out.write("tierbuffer: the library has no readable audio files\n")
            return 2
        tally = await play_session(running, out, speed=args.speed, wait_s=20.0)
        out.write(report(running, tally, started, db))
    async with open_log(db, create=False, migrate=False) as log:
        checked = await verify(log.events, log.snapshots)
    out.write(f"verify: {'ok' if checked.ok else 'FAILED'} ({checked.events} events checked)\n")
    return 0 if checked.ok else 1
