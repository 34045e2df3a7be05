"""Audit commands: `log` (table or JSON lines, time ranges, policy marks, follow), `verify`
(the database, or `--file` an export), `export` and `report`."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import anyio
import msgspec

from adapters.cli.events import iso
from adapters.cli.options import event_type, non_negative, positive

if TYPE_CHECKING:
    from domain.events import Recorded
    from domain.state import State
    from storage.anchor import Anchor
    from storage.eventstore import EventStore
    from storage.log import Log
    from storage.row import StoredRow

_json = msgspec.json.Encoder()

ANCHOR_HELP = (
    "a file kept outside the database holding the chain's head (seq:hash): the log must still "
    "hold it (else FAILED, exit 1: the newest events were removed); it is then advanced to the "
    "head just verified (created when missing). With --file, only checked (default: none)"
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("log", help="the audit view of the event log, with policy marks")
    p.add_argument(
        "--type",
        type=event_type,
        action="append",
        help="only this type (repeatable; default: every type)",
    )
    p.add_argument("--track", help="only events about this track (default: all)")
    p.add_argument(
        "--since", type=non_negative, default=0, help="only after this sequence number (default: 0)"
    )
    p.add_argument(
        "--from",
        dest="begin",
        type=moment,
        help="only events that occurred at or after this time, ms since the epoch or ISO-8601 "
        "(default: the first)",
    )
    p.add_argument(
        "--to", dest="end", type=moment, help="only events at or before (default: the last)"
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
    p.set_defaults(run=show_log)

    p = subparsers.add_parser(
        "verify",
        help="check the hash chain end to end and every snapshot against a fresh replay, or "
        "an exported file's chain (exit 1 naming the first bad sequence number)",
    )
    p.add_argument(
        "--file",
        default=None,
        metavar="EXPORT.jsonl",
        help="verify this export instead (default: the database)",
    )
    p.add_argument("--anchor", type=Path, default=None, metavar="FILE", help=ANCHOR_HELP)
    p.set_defaults(run=verify)

    p = subparsers.add_parser(
        "export", help="write the log as JSON lines with every hashed column, to verify elsewhere"
    )
    p.add_argument("file", help="the JSON-lines file to write")
    p.add_argument("--anchor", type=Path, default=None, metavar="FILE", help=ANCHOR_HELP)
    p.set_defaults(run=export_log)

    p = subparsers.add_parser(
        "report",
        help="write one self-contained HTML page plotting each session in the log (a session "
        "runs from the service's start to its stop)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("report.html"), help="where (default: report.html)"
    )
    p.add_argument(
        "--from", dest="begin", type=moment, help="only events at or after (default: the first)"
    )
    p.add_argument(
        "--to", dest="end", type=moment, help="only events at or before (default: the last)"
    )
    p.add_argument(
        "--session",
        type=positive,
        metavar="N",
        help="only session N (1 is the first in the window; default: every session)",
    )
    p.set_defaults(run=write_report)


def moment(value: str) -> int:
    """argparse type for `--from/--to`: ms since the epoch or ISO-8601 with a timezone."""
    from adapters.audit.export import parse_moment
    from adapters.ingest import EventParseError

    try:
        return parse_moment(value)
    except EventParseError as e:
        raise argparse.ArgumentTypeError(e.reason) from e


def _keep(args: argparse.Namespace, row: StoredRow, recorded: Recorded) -> bool:
    from domain.events import track_of

    if args.type and row.type not in args.type:
        return False
    if args.track is not None and track_of(recorded.event) != args.track:
        return False
    if args.begin is not None and row.occurred_at < args.begin:
        return False
    return args.end is None or row.occurred_at <= args.end


def _json_line(row: StoredRow, mark: str) -> str:
    from storage.row import with_payload

    entry = msgspec.structs.asdict(with_payload(row, msgspec.Raw(row.payload)))
    entry["mark"] = mark
    return _json.encode(entry).decode()


def _table_line(row: StoredRow, recorded: Recorded, mark: str) -> str:
    fields = msgspec.to_builtins(recorded.event)
    fields.pop("type", None)
    detail = " ".join(f"{k}={_json.encode(v).decode()}" for k, v in fields.items())
    return f"{row.seq:>8}  {iso(row.occurred_at)}  {row.type:<22} {mark or '-':<11} {detail}"


async def _print_from(
    log: Log, args: argparse.Namespace, out: TextIO, after: int, state: State
) -> tuple[int, State]:
    from adapters.audit.export import marked_rows

    jsonl = args.json or args.format == "jsonl"
    async for row, recorded, mark, folded in marked_rows(log, after=after, state=state):
        after, state = row.seq, folded
        if _keep(args, row, recorded):
            line = _json_line(row, mark) if jsonl else _table_line(row, recorded, mark)
            out.write(line + "\n")
    return after, state


async def show_log(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.audit.export import state_before
    from adapters.audit.follow import Wakeups
    from adapters.bootstrap import open_log

    async with open_log(args.db, create=False, migrate=False, read_only=True) as log:
        if not args.follow:
            state = await state_before(log, args.since)
            await _print_from(log, args, out, args.since, state)
            return 0
        async with anyio.create_task_group() as tg:
            # Ctrl-C (or SIGTERM) ends following cleanly, exit 0: listen before printing anything.
            tg.start_soon(_cancel_on_interrupt, tg.cancel_scope)
            wakeups = Wakeups(log.events, poll_s=args.poll)
            await wakeups.start(tg)  # listening before the first read: no commit is missed
            state = await state_before(log, args.since)
            after = args.since
            while True:
                after, state = await _print_from(log, args, out, after, state)
                out.flush()
                await wakeups.next()
    return 0


async def _cancel_on_interrupt(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return


async def export_log(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.audit.export import write_export
    from adapters.bootstrap import open_log
    from storage.anchor import Anchor
    from storage.chain import GENESIS

    target = Path(args.file)
    async with open_log(args.db, create=False, migrate=False, read_only=True) as log:
        last = await log.events.last_seq()
        found = await anyio.to_thread.run_sync(log.events.hash_at, last)
        head = Anchor(last, found or GENESIS)
        if not await _anchor_holds(args.anchor, log.events, last, out):
            return 1
        broken = await anyio.to_thread.run_sync(write_export, log.events, target, last, head)
    if broken is not None:
        out.write(f"FAILED at sequence {broken.seq}: {broken.reason}; nothing exported\n")
        return 1
    _advance(args.anchor, head, out)
    out.write(f"exported {last} events to {target}\n")
    return 0


async def _anchor_holds(path: Path | None, events: EventStore, last: int, out: TextIO) -> bool:
    """Whether the log still holds the head in the anchor file (True without one)."""
    from storage.anchor import anchor_break, read_anchor

    anchor = None if path is None else read_anchor(path)
    if anchor is None:
        return True
    found = await anyio.to_thread.run_sync(events.hash_at, anchor.seq)
    reason = anchor_break(anchor, last, found)
    if reason is not None:
        out.write(f"FAILED at sequence {min(anchor.seq, last + 1)}: {reason} ({path})\n")
    return reason is None


def _advance(path: Path | None, head: Anchor, out: TextIO) -> None:
    from storage.anchor import write_anchor

    if path is not None:
        write_anchor(path, head)
        out.write(f"anchor {path}: {head.seq}:{head.hash}\n")


async def verify_file(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.audit.export import ExportError, verify_export
    from storage.anchor import anchor_break, read_anchor

    path = Path(args.file)
    anchor = None if args.anchor is None else read_anchor(args.anchor)
    want = None if anchor is None else anchor.seq
    try:
        check = await anyio.to_thread.run_sync(lambda: verify_export(path, want=want))
    except ExportError as e:
        out.write(f"FAILED at line {e.line}: {e.reason}\n")
        return 1
    except OSError as e:
        raise ExportError(path, 0, f"cannot read: {e.strerror or e}") from e
    if check.broken is not None:
        out.write(f"FAILED at sequence {check.broken.seq}: {check.broken.reason}\n")
        return 1
    if anchor is not None:
        reason = anchor_break(anchor, check.events, check.hash_at.get(anchor.seq))
        if reason is not None:
            out.write(f"FAILED at sequence {min(anchor.seq, check.events + 1)}: {reason}\n")
            return 1
    out.write(f"ok: {check.events} events in {path}, hash chain intact\n")
    return 0


async def write_report(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.audit.report import fold_report, render_html
    from adapters.audit.write import ReportError, check_target, write_atomically
    from adapters.bootstrap import open_log

    target = check_target(args.out)
    async with open_log(args.db, create=False, migrate=False, read_only=True) as log:
        sessions = await fold_report(log, begin=args.begin, end=args.end)
    window = _window(args)
    if not sessions:
        raise ReportError(args.db, f"no events{window}; nothing written")
    numbered = list(enumerate(sessions, 1))
    if args.session is not None:
        if args.session > len(sessions):
            raise ReportError(
                args.db, f"no session {args.session}{window} (there are {len(sessions)})"
            )
        numbered = [numbered[args.session - 1]]
    page = render_html(numbered, title=f"{args.db}{window}")
    await anyio.to_thread.run_sync(write_atomically, target, page)
    shown = ", ".join(str(n) for n, _ in numbered)
    out.write(f"report written to {target} ({len(page) // 1024} KiB; sessions {shown})\n")
    return 0


def _window(args: argparse.Namespace) -> str:
    begin = f" from {iso(args.begin)}" if args.begin is not None else ""
    end = f" to {iso(args.end)}" if args.end is not None else ""
    return begin + end


async def verify(args: argparse.Namespace, out: TextIO) -> int:
    """`verify`: the database, or with `--file` an export (the database is not opened)."""
    if args.file is not None:
        return await verify_file(args, out)
    return await run_verify(args, out)


async def run_verify(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.bootstrap import open_log
    from storage.anchor import Anchor
    from storage.chain import GENESIS
    from storage.projector import verify as verify_log

    async with open_log(args.db, create=False, migrate=False, read_only=True) as log:
        report = await verify_log(log.events, log.snapshots)
        anchored = report.chain_break is not None or await _anchor_holds(
            args.anchor, log.events, report.events, out
        )
        head = await anyio.to_thread.run_sync(log.events.hash_at, report.events)
    if not anchored:
        return 1
    for stale in report.stale_snapshots:
        out.write(f"note: snapshot {stale.id} at {stale.seq} {stale.reason}\n")
    if report.chain_break is not None:
        out.write(f"FAILED at sequence {report.chain_break.seq}: {report.chain_break.reason}\n")
    for bad in report.snapshot_mismatches:
        out.write(f"FAILED: snapshot {bad.id} at sequence {bad.seq} {bad.reason}\n")
    if report.ok:
        out.write(f"ok: {report.events} events, hash chain intact, snapshots match a replay\n")
        out.write(f"state-hash: {report.state_hash}\n")
        _advance(args.anchor, Anchor(report.events, head or GENESIS), out)
        return 0
    return 1
