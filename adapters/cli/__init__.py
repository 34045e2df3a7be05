"""`tierbuffer`: the command line. Errors are one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TextIO

import anyio

from adapters.audit.export import ExportError
from adapters.bootstrap import DEFAULT_SNAPSHOT_EVERY, default_db_path
from adapters.cli import audit as cli_audit
from adapters.cli import events as commands
from adapters.cli import library as cli_library
from adapters.cli import render as cli_render
from adapters.cli import service as cli_service
from adapters.cli import simulate as cli_simulate
from adapters.http.config import HttpConfigError
from adapters.ingest import IngestError
from domain.errors import DomainError
from domain.events import EVENT_TYPES
from storage.errors import StoreError

logger = logging.getLogger(__name__)

Command = Callable[[argparse.Namespace, TextIO], Awaitable[int]]


def _event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        known = ", ".join(sorted(EVENT_TYPES))
        raise argparse.ArgumentTypeError(f"unknown event type {value!r} (known: {known})")
    return value


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tierbuffer",
        description="Predictive three-tier cache of rendered audio chunks, "
        "kept as an event log in SQLite.",
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="the SQLite event log (default: $TIERBUFFER_DB, else "
        "$XDG_DATA_HOME/tierbuffer/tierbuffer.db, i.e. ~/.local/share/tierbuffer/tierbuffer.db)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="append the events of a JSON-lines session file")
    p.add_argument("file", help="one event per line (schema in the README); all or nothing")
    p.add_argument(
        "--snapshot-every",
        type=_non_negative,
        default=DEFAULT_SNAPSHOT_EVERY,
        help="write a snapshot when this many events were added since the last one "
        f"(default {DEFAULT_SNAPSHOT_EVERY}; 0 never)",
    )
    p.set_defaults(run=commands.ingest)

    p = sub.add_parser("log", help="the audit view of the event log, with policy marks")
    p.add_argument("--type", type=_event_type, action="append", help="only this type (repeatable)")
    p.add_argument("--track", help="only events about this track")
    p.add_argument("--since", type=_non_negative, default=0, help="only after this sequence number")
    p.add_argument(
        "--from",
        dest="begin",
        type=cli_audit.moment,
        help="only events that occurred at or after this time (ms since the epoch or ISO-8601)",
    )
    p.add_argument(
        "--to", dest="end", type=cli_audit.moment, help="only events that occurred at or before"
    )
    p.add_argument(
        "--format",
        choices=["table", "jsonl"],
        default="table",
        help="table (default) or JSON lines with payloads, hashes and marks",
    )
    p.add_argument("--json", action="store_true", help="the same as --format jsonl")
    p.add_argument("--follow", action="store_true", help="keep printing new events until Ctrl-C")
    p.add_argument("--poll", type=float, default=0.5, help=argparse.SUPPRESS)
    p.set_defaults(run=cli_audit.show_log)

    p = sub.add_parser("state", help="the projected state and its state-hash")
    p.add_argument("--json", action="store_true", help="the canonical state as JSON")
    p.set_defaults(run=commands.show_state)

    p = sub.add_parser(
        "verify",
        help="check the hash chain end to end and every snapshot against a fresh replay, or "
        "an exported file's chain (exit 1 naming the first bad sequence number)",
    )
    p.add_argument(
        "--file", default=None, metavar="EXPORT.jsonl", help="verify this export instead"
    )
    p.set_defaults(run=cli_audit.verify)

    p = sub.add_parser(
        "export", help="write the log as JSON lines with every hashed column, to verify elsewhere"
    )
    p.add_argument("file", help="the JSON-lines file to write")
    p.set_defaults(run=cli_audit.export_log)

    p = sub.add_parser(
        "report", help="write one self-contained HTML page plotting the session in the log"
    )
    p.add_argument("--out", default="report.html", help="where (default report.html)")
    p.set_defaults(run=cli_audit.write_report)

    p = sub.add_parser("replay", help="rebuild the state from the log alone, ignoring snapshots")
    p.set_defaults(run=commands.run_replay)

    p = sub.add_parser("migrate", help="create the database or upgrade its schema, nothing else")
    p.set_defaults(run=commands.migrate)

    cli_service.register(sub)
    cli_library.register(sub)
    cli_simulate.register(sub)
    cli_render.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.db_given = args.db is not None or bool(os.environ.get("TIERBUFFER_DB"))
    args.db = args.db.expanduser() if args.db is not None else default_db_path()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    run: Command = args.run
    stream = out if out is not None else sys.stdout
    try:
        return anyio.run(run, args, stream, backend="asyncio")
    except (StoreError, DomainError, IngestError, HttpConfigError, ExportError) as e:
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
