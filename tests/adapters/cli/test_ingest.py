"""JSON-lines sessions: times, ids, validation messages, all or nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from adapters.ingest import (
    MAX_LINE_BYTES,
    EventParseError,
    IngestError,
    parse_line,
    parse_time,
    read_session,
)
from domain.events import Paused, PresetChanged, Seeked, TrackAdded, TrackChanged

ID = "6f1c2b9e-3d7a-4e5b-9c1d-2a8f0e4b7c63"
NOON_UTC = 1_795_514_400_000  # 2026-11-24T10:00:00Z


def line(text: str) -> Seeked | Paused | PresetChanged | TrackChanged | TrackAdded:
    return parse_line(text, default_id=ID).event  # type: ignore[return-value]


def write(tmp_path: Path, *lines: str, name: str = "session.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- times ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-11-24T10:00:00Z", NOON_UTC),
        ("2026-11-24T10:00:00.250Z", NOON_UTC + 250),
        ("2026-11-24T10:00:00.2509Z", NOON_UTC + 250),  # sub-millisecond is truncated
        ("2026-11-24T12:00:00+02:00", NOON_UTC),
        ("2026-11-24T04:30:00-05:30", NOON_UTC),
        ("2026-11-24T10:00:00+00:00", NOON_UTC),
        ("2026-11-24 10:00:00Z", NOON_UTC),
        (NOON_UTC, NOON_UTC),
        (0, 0),
        ("1970-01-01T00:00:00Z", 0),
    ],
)
def test_times(at: object, expected: int) -> None:
    assert parse_time(at) == expected


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("2026-11-24T10:00:00", "timezone"),
        ("yesterday", "ISO-8601"),
        ("", "ISO-8601"),
        (-1, "negative"),
        (True, "boolean"),
        (1.5, "milliseconds"),
        (None, "milliseconds"),
        ("1969-12-31T23:59:59Z", "before 1970"),
    ],
)
def test_bad_times(at: object, message: str) -> None:
    with pytest.raises(EventParseError, match=message):
        parse_time(at)


def test_time_in_a_line() -> None:
    new = parse_line('{"type":"Paused","at":"2026-11-24T11:00:00+01:00"}', default_id=ID)
    assert new.occurred_at == NOON_UTC
    assert new.event == Paused()


# --- fields -------------------------------------------------------------------------------------


def test_a_full_line() -> None:
    new = parse_line(
        '{"type":"TrackAdded","at":5,"id":"00000000-0000-0000-0000-00000000000A","track":"t1",'
        '"path":"a.flac","fingerprint":{"size":1,"mtime_ns":2,"content_hash":"h"},'
        '"duration_ms":1000,"sample_rate":44100,"channels":2}',
        default_id=ID,
    )
    assert new.event_id == "00000000-0000-0000-0000-00000000000a"  # normalised
    assert new.occurred_at == 5
    assert isinstance(new.event, TrackAdded)
    assert new.event.fingerprint.content_hash == "h"


def test_defaults_of_the_event_apply() -> None:
    assert line('{"type":"TrackChanged","at":0,"track":"t1"}') == TrackChanged(track="t1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"at":0}', "missing field `type`"),
        ('{"type":"Paused"}', "missing field `at`"),
        ('{"type":"Teleported","at":0}', "unknown event type 'Teleported'"),
        ('{"type":[1],"at":0}', "unknown event type"),
        ('{"type":{"a":1},"at":0}', "unknown event type"),
        ('{"type":"Seeked","at":0}', "position_ms"),
        ('{"type":"Seeked","at":0,"position_ms":-5}', "position_ms"),
        ('{"type":"Seeked","at":0,"position_ms":"5"}', "position_ms"),
        ('{"type":"Seeked","at":0,"position_ms":5,"speed":2}', "speed"),
        ('{"type":"PresetChanged","at":0,"preset":"loud"}', "preset"),
        ('{"type":"IntensityChanged","at":0,"intensity":1.5}', "intensity"),
        (
            '{"type":"TrackAdded","at":0,"track":"t","path":"p","duration_ms":1,'
            '"sample_rate":1,"channels":1,"fingerprint":{"size":1,"mtime_ns":1}}',
            "`content_hash` - at `fingerprint`",
        ),
        ('{"type":"Paused","at":0,"id":"not-a-uuid"}', "`id` is not a UUID: 'not-a-uuid'"),
        ('{"type":"Paused","at":0,"id":null}', "`id` is not a UUID"),
        ('{"type":"Paused","at":"noon"}', "`at`"),
        ("[1,2]", "JSON object"),
        ('{"type":"Paused",', "not JSON"),
        ("Paused at noon", "not JSON"),
    ],
)
def test_bad_lines_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(EventParseError) as raised:
        parse_line(text, default_id=ID)
    assert message in str(raised.value)


def test_overlong_line_is_refused_before_decoding() -> None:
    text = '{"type":"ServiceStarted","at":0,"version":"' + "x" * MAX_LINE_BYTES + '"}'
    with pytest.raises(EventParseError, match="longer than"):
        parse_line(text.encode(), default_id=ID)


# --- files ----------------------------------------------------------------------------------------


def test_comments_and_blank_lines_are_skipped_and_line_numbers_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# a session",
        "",
        '{"type":"PresetChanged","at":1,"preset":"warm"}',
        "   ",
        "  # indented comment",
        '{"type":"Paused","at":2}',
    )
    events = read_session(path)
    assert [e.event for e in events] == [PresetChanged(preset="warm"), Paused()]
    bad = write(tmp_path, "# header", "", '{"type":"Paused","at":2}', '{"type":"Nope","at":3}')
    with pytest.raises(IngestError) as raised:
        read_session(bad)
    assert raised.value.line == 4
    assert str(raised.value) == f"{bad}:4: unknown event type 'Nope'"


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b'{"type":"Paused","at":1}\r\n\r\n{"type":"Resumed","at":2}\r\n')
    assert [e.occurred_at for e in read_session(path)] == [1, 2]


def test_first_bad_line_is_reported_and_nothing_returned(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{"type":"Paused","at":1}',
        '{"type":"Seeked","at":2,"position_ms":-1}',
        '{"type":"Nope","at":3}',
    )
    with pytest.raises(IngestError) as raised:
        read_session(path)
    assert raised.value.line == 2
    assert "position_ms" in raised.value.reason


def test_overlong_line_in_a_file_names_its_line(tmp_path: Path) -> None:
    long_version = "x" * (MAX_LINE_BYTES + 1)
    path = write(
        tmp_path,
        '{"type":"Paused","at":1}',
        '{"type":"ServiceStarted","at":2,"version":"' + long_version + '"}',
    )
    with pytest.raises(IngestError) as raised:
        read_session(path)
    assert (raised.value.line, "longer than" in raised.value.reason) == (2, True)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="cannot read"):
        read_session(tmp_path / "missing.jsonl")


def test_given_ids_are_kept(tmp_path: Path) -> None:
    given = str(uuid.UUID(int=7))
    path = write(tmp_path, f'{{"type":"Paused","at":1,"id":"{given}"}}')
    assert [e.event_id for e in read_session(path)] == [given]


def test_derived_ids_depend_on_file_content_and_line_number(tmp_path: Path) -> None:
    lines = ['{"type":"Paused","at":1}', '{"type":"Paused","at":1}', '{"type":"Resumed","at":2}']
    first = [e.event_id for e in read_session(write(tmp_path, *lines, name="a.jsonl"))]
    # same content elsewhere: same ids (re-ingesting a copy appends nothing)
    again = [e.event_id for e in read_session(write(tmp_path, *lines, name="b.jsonl"))]
    assert first == again
    assert all(str(uuid.UUID(i)) == i for i in first)
    # identical lines at different line numbers are different events
    assert len(set(first)) == 3
    # any change to the file gives new ids, even to unchanged lines
    changed = [*lines[:2], '{"type":"Resumed","at":3}']
    other = [e.event_id for e in read_session(write(tmp_path, *changed, name="c.jsonl"))]
    assert set(other).isdisjoint(first)


def test_a_given_id_does_not_shift_derived_ids(tmp_path: Path) -> None:
    given = str(uuid.UUID(int=9))
    events = read_session(
        write(tmp_path, f'{{"type":"Paused","at":1,"id":"{given}"}}', '{"type":"Resumed","at":2}')
    )
    assert events[0].event_id == given
    assert events[1].event_id != given


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"at":0}', "type"),
        ('{"type":"Nope","at":0}', "type"),
        ('{"type":"Paused"}', "at"),
        ('{"type":"Paused","at":"noon"}', "at"),
        ('{"type":"Paused","at":0,"id":"x"}', "id"),
        ('{"type":"Seeked","at":0,"position_ms":-5}', "position_ms"),
        ('{"type":"PresetChanged","at":0,"preset":"loud"}', "preset"),
        ("[1]", None),
    ],
)
def test_a_parse_error_carries_the_field_it_is_about(text: str, field: str | None) -> None:
    with pytest.raises(EventParseError) as raised:
        parse_line(text, default_id=ID)
    assert raised.value.field == field
