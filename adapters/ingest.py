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
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from adapters.errors import AdapterError
from domain.events import EVENT_TYPES, DomainEvent, NewEvent

MAX_LINE_BYTES = 64 * 1024
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
#: How deeply an event's JSON may nest. An event is an object whose deepest field is a chunk key
#: (an object): anything deeper is refused before it is decoded, so no input can exhaust the
#: decoder's recursion.
MAX_DEPTH = 8
#: The largest time or position in milliseconds (a field named `*_ms`), and the largest sequence
#: number or index a query may name: exact in JSON and JavaScript, thousands of years of ms.
MAX_INT = 2**53
#: Any other integer fits a signed 64-bit integer (SQLite's INTEGER; `mtime_ns` needs the room).
MAX_INT64 = 2**63 - 1
#: Strings and the brackets outside them, for `check_depth`.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAMESPACE = uuid.UUID("6f1c2b9e-3d7a-4e5b-9c1d-2a8f0e4b7c63")


class EventParseError(AdapterError):
    """One event's JSON is not a valid event: `reason` in words, `field` the field it is about
    (None when it is about the whole object)."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class IngestError(AdapterError):
    """A line of a session file is not a valid event; nothing of the file is appended."""

    def __init__(self, source: str, line: int, reason: str, field: str | None = None) -> None:
        super().__init__(f"{source}:{line}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason
        self.field = field


def parse_time(value: object) -> int:
    """Milliseconds since the epoch from an integer or an ISO-8601 string with a timezone."""
    if isinstance(value, bool):
        raise EventParseError("`at` must be milliseconds or an ISO-8601 time, not a boolean", "at")
    if isinstance(value, int):
        if value < 0:
            raise EventParseError("`at` must not be negative", "at")
        if value > MAX_TIME_MS:
            raise EventParseError(f"`at` must be at most {MAX_TIME_MS} ms (year 9999)", "at")
        return value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as e:
            raise EventParseError(f"`at` is not an ISO-8601 time: {value!r}", "at") from e
        if moment.tzinfo is None:
            raise EventParseError(f"`at` needs a timezone (e.g. Z): {value!r}", "at")
        millis = (moment - _EPOCH) // timedelta(milliseconds=1)
        if millis < 0:
            raise EventParseError("`at` is before 1970", "at")
        if millis > MAX_TIME_MS:
            raise EventParseError("`at` is after year 9999", "at")
        return millis
    raise EventParseError("`at` must be milliseconds or an ISO-8601 time", "at")


def check_depth(text: bytes) -> None:
    """Refuse JSON nested deeper than `MAX_DEPTH` (EventParseError), before decoding it."""
    depth = 0
    for token in _TOKENS.finditer(text):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise EventParseError(f"JSON nested deeper than {MAX_DEPTH} levels")
        elif bracket in (b"]", b"}"):
            depth -= 1


def decode_json(text: str | bytes) -> object:
    """A JSON value of bounded nesting; EventParseError when it is not JSON or too deep."""
    raw = text.encode() if isinstance(text, str) else text
    check_depth(raw)
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as e:
        raise EventParseError(f"not JSON: {e}") from e


def parse_line(text: str | bytes, *, default_id: str) -> NewEvent:
    """One line to an event; raises `EventParseError` naming the bad field."""
    if len(text) > MAX_LINE_BYTES:
        raise EventParseError(f"line longer than {MAX_LINE_BYTES} bytes")
    return parse_object(decode_json(text), default_id=default_id)


def check_values(value: object, field: str) -> None:
    """Every integer in `value` within ±MAX_INT for a `*_ms` field, a signed 64-bit integer for
    any other, and no string with a control character; EventParseError naming the field
    otherwise."""
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        bound = MAX_INT if field.endswith("_ms") else MAX_INT64
        if not -bound - 1 < value <= bound:
            raise EventParseError(f"`{field}` must be at most {bound} in size", field)
    elif isinstance(value, str):
        if _CONTROL.search(value):
            raise EventParseError(f"`{field}` must not contain control characters", field)
    elif isinstance(value, dict):
        for name, item in value.items():
            check_values(item, f"{field}.{name}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            check_values(item, f"{field}[{n}]")


def parse_object(data: object, *, default_id: str, default_at: int | None = None) -> NewEvent:
    """A decoded JSON value to an event: `type`, `at` (or `default_at`), optional `id`, and the
    payload fields. Raises `EventParseError` naming the bad field; `data` is not changed."""
    if not isinstance(data, dict):
        raise EventParseError("a line must be a JSON object")
    fields = dict(data)
    event_type = fields.pop("type", None)
    if event_type is None:
        raise EventParseError("missing field `type`", "type")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise EventParseError(f"unknown event type {event_type!r}", "type")
    if "at" in fields:
        occurred_at = parse_time(fields.pop("at"))
    elif default_at is not None:
        occurred_at = default_at
    else:
        raise EventParseError("missing field `at`", "at")
    event_id = fields.pop("id", default_id)
    try:
        event_id = str(uuid.UUID(str(event_id)))
    except ValueError as e:
        raise EventParseError(f"`id` is not a UUID: {event_id!r}", "id") from e
    for name, value in fields.items():
        check_values(value, str(name))
    fields["type"] = event_type
    try:
        event = msgspec.convert(fields, DomainEvent)
    except msgspec.ValidationError as e:
        message = str(e).replace("$.", "")
        raise EventParseError(message, _field_of(message)) from e
    return NewEvent(event_id=event_id, occurred_at=occurred_at, event=event)


_AT_FIELD = re.compile(r"at `\$?\.?([^`]*)`")
_NAMED = re.compile(r"`\$?\.?([A-Za-z_][A-Za-z0-9_.\[\]]*)`")


def _field_of(message: str) -> str | None:
    """The field msgspec's validation message names ("… - at `$.x`", else the first `name`):
    msgspec reports the path only inside its message, so it is read from there, once, here."""
    found = _AT_FIELD.search(message) or _NAMED.search(message)
    return found.group(1) if found else None


def parse_lines(lines: Iterable[bytes], *, source: str, digest: str) -> list[NewEvent]:
    events = []
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith(b"#"):
            continue
        default_id = str(uuid.uuid5(_NAMESPACE, f"{digest}:{number}"))
        try:
            events.append(parse_line(stripped, default_id=default_id))
        except EventParseError as e:
            raise IngestError(source, number, e.reason, e.field) from e
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
