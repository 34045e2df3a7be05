"""Argument types shared by the command modules (the global options are in `settings`).

Imports nothing heavy: the parser is built for every command, `--help` included.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

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
