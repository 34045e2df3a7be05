"""JSON-lines sessions: one event per line, validated line by line, all or nothing.

A line is a JSON object::

    {"type": "PresetChanged", "at": "2026-11-24T10:00:00.250Z", "preset": "warm"}

- ``type``: an event type (see README, "Event types"); required;
- ``at``: when it happened: integer milliseconds since the Unix epoch, or an ISO-8601 time with
  a timezone; required;
- ``id``: optional UUID. Without one, the id is derived from the file's content and the line
  number, so ingesting the same file twice appends nothing the second time;
- every other field is the event's payload, checked against the event's schema.

Blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from domain.events import EVENT_TYPES, DomainEvent, NewEvent

MAX_LINE_BYTES = 64 * 1024
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAMESPACE = uuid.UUID("6f1c2b9e-3d7a-4e5b-9c1d-2a8f0e4b7c63")


class IngestError(Exception):
    """A line of a session file is not a valid event; nothing of the file is appended."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source}:{line}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason


def parse_time(value: object) -> int:
    """Milliseconds since the epoch from an integer or an ISO-8601 string with a timezone."""
    if isinstance(value, bool):
        raise ValueError("`at` must be milliseconds or an ISO-8601 time, not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("`at` must not be negative")
        if value > MAX_TIME_MS:
            raise ValueError(f"`at` must be at most {MAX_TIME_MS} ms (year 9999)")
        return value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as e:
            raise ValueError(f"`at` is not an ISO-8601 time: {value!r}") from e
        if moment.tzinfo is None:
            raise ValueError(f"`at` needs a timezone (e.g. Z): {value!r}")
        millis = (moment - _EPOCH) // timedelta(milliseconds=1)
        if millis < 0:
            raise ValueError("`at` is before 1970")
        if millis > MAX_TIME_MS:
            raise ValueError("`at` is after year 9999")
        return millis
    raise ValueError("`at` must be milliseconds or an ISO-8601 time")


def parse_line(text: str | bytes, *, default_id: str) -> NewEvent:
    """One line to an event; raises ValueError with a message naming the bad field."""
    if len(text) > MAX_LINE_BYTES:
        raise ValueError(f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        data = msgspec.json.decode(text)
    except msgspec.DecodeError as e:
        raise ValueError(f"not JSON: {e}") from e
    if not isinstance(data, dict):
        raise ValueError("a line must be a JSON object")
    event_type = data.pop("type", None)
    if event_type is None:
        raise ValueError("missing field `type`")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    if "at" not in data:
        raise ValueError("missing field `at`")
    occurred_at = parse_time(data.pop("at"))
    event_id = data.pop("id", default_id)
    try:
        event_id = str(uuid.UUID(str(event_id)))
    except ValueError as e:
        raise ValueError(f"`id` is not a UUID: {event_id!r}") from e
    data["type"] = event_type
    try:
        event = msgspec.convert(data, DomainEvent)
    except msgspec.ValidationError as e:
        raise ValueError(str(e).replace("$.", "")) from e
    return NewEvent(event_id=event_id, occurred_at=occurred_at, event=event)


def parse_lines(lines: Iterable[bytes], *, source: str, digest: str) -> list[NewEvent]:
    events = []
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith(b"#"):
            continue
        default_id = str(uuid.uuid5(_NAMESPACE, f"{digest}:{number}"))
        try:
            events.append(parse_line(stripped, default_id=default_id))
        except ValueError as e:
            raise IngestError(source, number, str(e)) from e
    return events


def read_session(path: Path) -> list[NewEvent]:
    """Every event of a session file, or IngestError for the first bad line (or unreadable file)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise IngestError(str(path), 0, f"cannot read: {e.strerror}") from e
    return parse_session(data, source=str(path))


def parse_session(data: bytes, *, source: str) -> list[NewEvent]:
    digest = hashlib.sha256(data).hexdigest()
    return parse_lines(data.splitlines(), source=source, digest=digest)
