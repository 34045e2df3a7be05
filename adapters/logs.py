"""Logging for operators: one line per record on stderr, as text or as JSON.

- text: `2026-11-30T14:20:01.123+01:00 INFO  adapters.runtime.service: service ready ...`;
  when stderr is the systemd journal (`$JOURNAL_STREAM` names it), the time is left to the
  journal and each line starts with its syslog priority (`<6>`), so `journalctl -p err` works;
- json: one object per line: `time`, `level`, `logger`, `message`, and `exception` when there is
  a traceback.

Our own loggers (`adapters`, `storage`, `domain`, `migrations`) log at the level asked (INFO by
default); everything else (aiosqlite, SQLAlchemy, Alembic, watchdog, uvicorn, asyncio, ...) only
at WARNING and above, unless `everything` is asked for.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Final, Literal, TextIO

LogFormat = Literal["text", "json"]
LEVELS: Final = ("debug", "info", "warning", "error")
FORMATS: Final = ("text", "json")
OURS: Final = ("adapters", "storage", "domain", "migrations", "__main__")
_PRIORITIES: Final = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created).astimezone()
    return moment.isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    def __init__(self, *, journal: bool = False) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        if self.journal:
            return f"<{_PRIORITIES.get(record.levelname, 6)}>{record.name}: {message}"
        return f"{_time(record)} {record.levelname:<5} {record.name}: {message}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def writes_to_journal(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """True when `stream` is the journal stream systemd gave this service (`$JOURNAL_STREAM`)."""
    named = environ.get("JOURNAL_STREAM", "")
    device, _, inode = named.partition(":")
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return bool(named) and f"{st.st_dev}:{st.st_ino}" == f"{device}:{inode}"


def configure(
    level: str = "info",
    fmt: LogFormat = "text",
    *,
    everything: bool = False,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route every record to one handler on `stream` (stderr); returns the handler."""
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(journal=writes_to_journal(stream)))
    number = logging.getLevelNamesMapping()[level.upper()]
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(number if everything else max(number, logging.WARNING))
    for name in OURS:
        logging.getLogger(name).setLevel(number)
    return handler


@contextmanager
def configured(
    level: str = "info",
    fmt: LogFormat = "text",
    *,
    everything: bool = False,
    stream: TextIO | None = None,
) -> Iterator[logging.Handler]:
    """`configure` for the body of a `with`, then the logging set-up as it was (the CLI's `main`
    runs in-process in tests, one command after another)."""
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in OURS}
    try:
        yield configure(level, fmt, everything=everything, stream=stream)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(root_level)
        for name, number in levels.items():
            logging.getLogger(name).setLevel(number)
