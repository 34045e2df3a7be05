"""`tierbuffer serve`: the background service, until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from adapters.cli import settings
from adapters.errors import AdapterError

if TYPE_CHECKING:
    from adapters.http.config import HttpConfig
    from adapters.runtime.service import ServiceConfig
    from storage.location import Location


class UsageError(AdapterError):
    """A command given too little to run."""


def add_runtime_options(p: argparse.ArgumentParser) -> None:
    settings.add(p, "workers", "render worker processes", metavar="N")
    settings.add(p, "snapshot-every", "write a snapshot every N events", metavar="N")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the background service: watch the library, render what the plan asks, "
        "until SIGTERM/SIGINT",
        description="Run the service until SIGTERM or SIGINT. Under systemd (Type=notify) it "
        "reports readiness and pings the watchdog (examples/tierbuffer.service).",
    )
    settings.add(p, "library", "the music library folder (required)", metavar="DIR")
    settings.add(p, "cache-dir", "where rendered chunks go", metavar="DIR")
    settings.add(
        p,
        "http",
        "serve the player API at HOST:PORT (loopback; another address needs a token)",
        metavar="HOST:PORT",
    )
    settings.add(p, "token", "bearer token every HTTP request must carry", metavar="TOKEN")
    add_runtime_options(p)
    p.set_defaults(run=serve)


def service_config(
    args: argparse.Namespace, db: Location, library: Path, cache_dir: Path
) -> ServiceConfig:
    from adapters.runtime.scheduler import SchedulerConfig
    from adapters.runtime.service import ServiceConfig

    return ServiceConfig(
        db=db,
        library=library,
        cache_dir=cache_dir,
        scheduler=SchedulerConfig(workers=args.workers),
        snapshot_every=args.snapshot_every,
    )


def http_config(args: argparse.Namespace) -> HttpConfig | None:
    """`--http HOST:PORT` and `--token` (a must off loopback)."""
    from adapters.http.config import parse_bind

    if args.http is None:
        return None
    return parse_bind(args.http, token=args.token)


async def serve(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.bootstrap import serve_until_signalled
    from adapters.notify import Notifier

    if args.library is None:
        raise UsageError(
            "serve needs a library folder: --library DIR, $TIERBUFFER_LIBRARY, or `library` "
            "in the config file"
        )
    config = service_config(args, args.db, args.library, args.cache_dir)
    await serve_until_signalled(config, http=http_config(args), notifier=Notifier.from_environ())
    return 0
