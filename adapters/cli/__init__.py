"""`tierbuffer`: the command line. Errors are one line on stderr, never a traceback.

One module per group of commands, each with `register(subparsers)`: `events` (ingest, state,
replay, migrate), `audit` (log, verify, export, report), `service` (serve), `demo`, `library`
(scan), `simulate`, `render` (a preset on any audio file), `budgets`, `completion`.

Start-up is kept short (every command builds the whole parser): the command modules import only
the standard library at the top and the rest inside their handlers, so `state` never loads the
audio or HTTP stacks, SQLAlchemy or Alembic (tests/adapters/cli/test_startup.py lists them).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TextIO

from adapters.cli import (
    audit,
    budgets,
    completion,
    demo,
    events,
    library,
    render,
    service,
    simulate,
)
from adapters.cli.settings import add_global_options
from domain.errors import TierbufferError

logger = logging.getLogger(__name__)

Command = Callable[[argparse.Namespace, TextIO], Awaitable[int]]

#: Each module adds its commands with `register(subparsers)`; a command's handler is set as
#: `run`: `async (args, out) -> exit code`.
COMMANDS = (events, audit, service, demo, library, simulate, render, budgets, completion)


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line: `tierbuffer: error: ...`, exit 2."""

    commands: dict[str, argparse.ArgumentParser]

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: None = None
    ) -> argparse.Namespace:
        """As argparse's, but unknown options are reported by the command's own parser, so the
        hint names `tierbuffer COMMAND --help`."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            command = self.commands.get(getattr(parsed, "command", None) or "", self)
            command.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed

    def error(self, message: str) -> NoReturn:
        hint = f"{self.prog} --help"
        self.exit(2, f"tierbuffer: error: {message} (see `{hint}`)\n")


class _Version(argparse.Action):
    """`--version`: the version this code carries (`adapters.__version__`, which the package
    metadata is built from), without loading the metadata machinery."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from adapters import __version__

        print(f"tierbuffer {__version__}")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="tierbuffer",
        description="Predictive three-tier cache of rendered audio chunks, "
        "kept as an event log in SQLite or PostgreSQL.",
        epilog="Settings: a flag beats $TIERBUFFER_*, which beats the config file, which beats "
        "the default. `tierbuffer COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    add_global_options(parser, after_command=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    for command in sub.choices.values():
        add_global_options(command, after_command=True)
    parser.commands = dict(sub.choices)
    return parser


def _log_level(args: argparse.Namespace) -> str:
    """`--log-level` (info; a command may lower its default: the demo narrates on stdout and
    logs only warnings unless asked), or debug with `-v`."""
    level: str = args.log_level
    if args.sources.get("log-level") == "default":
        level = getattr(args, "log_level_default", level)
    return "debug" if args.verbose else level


def _ours(group: BaseExceptionGroup[BaseException]) -> TierbufferError | None:
    """The error of ours a task group carries, when that is all it carries."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        item = pending.pop()
        if isinstance(item, BaseExceptionGroup):
            pending.extend(item.exceptions)
        else:
            leaves.append(item)
    ours = [e for e in leaves if isinstance(e, TierbufferError)]
    return ours[0] if ours and len(ours) == len(leaves) else None


def _fail(message: str) -> int:
    print(f"tierbuffer: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    from adapters.cli import settings

    parser = build_parser()
    assert isinstance(parser, Parser)
    args = parser.parse_args(argv)
    try:
        settings.resolve(args, os.environ)
    except TierbufferError as e:
        return _fail(str(e))
    from adapters import logs

    with logs.configured(_log_level(args), args.log_format, everything=args.verbose >= 2):
        return _run(args, out if out is not None else sys.stdout)


def _run(args: argparse.Namespace, stream: TextIO) -> int:
    run: Command = args.run
    try:
        import anyio

        return anyio.run(run, args, stream, backend="asyncio")
    except TierbufferError as e:
        return _fail(str(e))
    except BaseExceptionGroup as group:  # raised inside a task group: report ours in one line
        ours = _ours(group)
        if ours is None:
            raise
        return _fail(str(ours))
    except KeyboardInterrupt:
        print("tierbuffer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`tierbuffer log | head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as e:  # the last boundary: a bug, reported in one line (traceback with -v)
        logger.debug("unexpected error", exc_info=True)
        print(
            f"tierbuffer: internal error: {type(e).__name__}: {e} (run with -v for details)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
