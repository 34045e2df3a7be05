"""`tierbuffer`: the command line. Errors are one line on stderr, never a traceback.

One module per group of commands, each with `register(subparsers)`: `events` (ingest, state,
replay, migrate), `audit` (log, verify, export, report), `service` (serve, demo), `library`
(scan), `simulate`, `render` (a preset on any audio file).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TextIO

import anyio

from adapters.bootstrap import db_location
from adapters.cli import audit, events, library, render, service, simulate
from domain.errors import TierbufferError

logger = logging.getLogger(__name__)

Command = Callable[[argparse.Namespace, TextIO], Awaitable[int]]

#: Each module adds its commands with `register(subparsers)`; a command's handler is set as
#: `run`: `async (args, out) -> exit code`.
COMMANDS = (events, audit, service, library, simulate, render)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tierbuffer",
        description="Predictive three-tier cache of rendered audio chunks, "
        "kept as an event log in SQLite.",
    )
    parser.add_argument(
        "--db",
        default=None,
        help="the event log: an SQLite file, or a PostgreSQL database as postgresql://USER@HOST/DB "
        "(default: $TIERBUFFER_DB, else $XDG_DATA_HOME/tierbuffer/tierbuffer.db, i.e. "
        "~/.local/share/tierbuffer/tierbuffer.db)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.db_given = args.db is not None or bool(os.environ.get("TIERBUFFER_DB"))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    run: Command = args.run
    stream = out if out is not None else sys.stdout
    try:
        args.db = db_location(args.db)
        return anyio.run(run, args, stream, backend="asyncio")
    except TierbufferError as e:
        print(f"tierbuffer: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tierbuffer: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # the last boundary: a bug, reported in one line (traceback with -v)
        logger.debug("unexpected error", exc_info=True)
        print(
            f"tierbuffer: internal error: {type(e).__name__}: {e} (run with -v for details)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
