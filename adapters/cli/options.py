"""Argument types and the global options shared by the command modules.

Imports nothing heavy: the parser is built for every command, `--help` included.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.location import PgUrl

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


def event_type(value: str) -> str:
    from domain.events import EVENT_TYPES

    if value not in EVENT_TYPES:
        known = ", ".join(sorted(EVENT_TYPES))
        raise argparse.ArgumentTypeError(f"unknown event type {value!r} (known: {known})")
    return value


def _integer(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None


def non_negative(value: str) -> int:
    number = _integer(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def positive(value: str) -> int:
    number = _integer(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def folder(value: str) -> Path:
    return Path(value).expanduser()


def database(value: str) -> Path | str:
    """`--db`: a postgresql:// URL stays text here (`checked_database` checks it once the
    setting is resolved, so a malformed one is one line and exit 2 wherever it came from), any
    other text is the path of an SQLite file."""
    from storage.location import is_url

    return value if is_url(value) else folder(value)


def checked_database(value: Path | str | PgUrl) -> Path | PgUrl:
    """The resolved `db`: a path as it is, a URL checked (`InvalidLocationError`)."""
    if not isinstance(value, str):
        return value
    from storage.location import location

    return location(value)


def log_level(value: str) -> str:
    if value.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"one of {', '.join(LOG_LEVELS)}, not {value!r}")
    return value.lower()


def log_format(value: str) -> str:
    if value.lower() not in LOG_FORMATS:
        raise argparse.ArgumentTypeError(f"one of {', '.join(LOG_FORMATS)}, not {value!r}")
    return value.lower()


def add_global_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """`--db`, `--config`, `-v`, `--log-level`, `--log-format`: before the command, and again
    after it (`after_command`: only what is given there overrides what came before)."""
    from adapters.cli import settings

    unset: dict[str, Any] = {"default": argparse.SUPPRESS} if after_command else {}
    group = parser.add_argument_group("global options (before or after the command)")
    db = settings.SETTINGS["db"]
    group.add_argument(
        "--db",
        type=database,
        metavar="PATH|URL",
        help=db.help(
            "the event log: an SQLite file, or a PostgreSQL database as postgresql://USER@HOST/DB"
        ),
        **({"default": None} | unset),
    )
    group.add_argument(
        "--config",
        type=folder,
        metavar="FILE",
        help="settings file, TOML (default: $TIERBUFFER_CONFIG, else "
        "$XDG_CONFIG_HOME/tierbuffer/config.toml if it exists)",
        **({"default": None} | unset),
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        help="-v: log at debug level; -vv: also other libraries' debug logs (default: off)",
        **({"default": 0} | unset),
    )
    for name, text, choices in (
        ("log-level", f"our log level: {', '.join(LOG_LEVELS)}", LOG_LEVELS),
        ("log-format", "log lines as text or json, one per line", LOG_FORMATS),
    ):
        group.add_argument(
            f"--{name}",
            type=settings.SETTINGS[name].parse,
            choices=choices,
            metavar=name.split("-")[1].upper(),
            help=settings.SETTINGS[name].help(text),
            **({"default": None} | unset),
        )
