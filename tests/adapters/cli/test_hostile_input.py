"""Hostile input on the command line: a session line nested too deep, an integer out of range
or a control character is refused with its line number (exit 2, nothing appended); whatever the
log holds is printed with control characters escaped; `| head` ends quietly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from adapters.bootstrap import open_log
from adapters.cli import main
from adapters.ingest import MAX_DEPTH
from domain.events import NewEvent, PositionReported, TrackChanged
from tests.support.events import T0, new_id, session_lines, track_added, write_session

HOSTILE = "t\x1b[2J\x07\u009b1\u202e"  # clear screen, bell, a C1 CSI, a right-to-left override
SHOWN = "t\\u001b[2J\\u0007\\u009b1\\u202e"


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ('{"type":"Paused","at":1,"x":' + "[" * 30_000, f"nested deeper than {MAX_DEPTH}"),
        ("[" * 30_000 + "]" * 30_000, f"nested deeper than {MAX_DEPTH}"),
        (json.dumps({"type": "PositionReported", "at": T0, "position_ms": 10**30}), "position_ms"),
        (json.dumps({"type": "Seeked", "at": T0, "position_ms": 2**63}), "position_ms"),
        (json.dumps({"type": "TrackChanged", "at": T0, "track": HOSTILE}), "control characters"),
    ],
)
def test_a_hostile_session_line_is_refused_with_its_number_and_nothing_is_appended(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str, said: str
) -> None:
    session = write_session(tmp_path / "s.jsonl", session_lines(3))
    with session.open("a") as out:
        out.write(bad + "\n")
    db = tmp_path / "hostile.db"
    assert main(["--db", str(db), "ingest", str(session)]) == 2
    err = capsys.readouterr().err
    assert "s.jsonl:4: " in err and said in err and len(err.strip().splitlines()) == 1
    assert main(["--db", str(db), "migrate"]) == 0
    assert "(0 events)" in capsys.readouterr().out


def test_a_file_time_in_nanoseconds_is_no_out_of_range_integer(tmp_path: Path) -> None:
    """Only `*_ms` fields are held to 2^53; `mtime_ns` (about 1.7e18 today) needs 64 bits."""
    line = {
        "type": "TrackAdded",
        "at": T0,
        "track": "t9",
        "path": "t9.flac",
        "fingerprint": {"size": 10, "mtime_ns": 1_764_000_000_123_456_789, "content_hash": "ab"},
        "duration_ms": 200_000,
        "sample_rate": 44_100,
        "channels": 2,
    }
    session = write_session(tmp_path / "s.jsonl", [line])
    assert main(["--db", str(tmp_path / "ns.db"), "ingest", str(session)]) == 0
    line["fingerprint"] = {"size": 10, "mtime_ns": 2**63, "content_hash": "ab"}
    write_session(session, [line])
    assert main(["--db", str(tmp_path / "ns.db"), "ingest", str(session)]) == 2


def _log_with_hostile_track(db: Path) -> None:
    """A track id with control characters in the log, as a file name could bring one."""

    async def append() -> None:
        async with open_log(db, create=True, migrate=True) as log:
            events = [track_added(HOSTILE), TrackChanged(HOSTILE), PositionReported(1_000)]
            await log.events.append(
                [NewEvent(new_id(), T0 + n, event) for n, event in enumerate(events)]
            )

    anyio.run(append)


def test_state_log_and_explain_escape_what_the_log_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "escaped.db"
    _log_with_hostile_track(db)
    for command in (["state"], ["log"], ["log", "--json"], ["state", "--json"], ["explain", "0"]):
        assert main(["--db", str(db), *command]) == 0, command
        out = capsys.readouterr().out
        assert SHOWN in out, command
        assert not any(c in out for c in "\x1b\x07\u009b\u202e"), command
    assert main(["--db", str(db), "state", "--json"]) == 0
    state = json.loads(capsys.readouterr().out)["state"]  # still JSON, with the same value
    assert state["playback"]["track"] == HOSTILE


@pytest.mark.parametrize("command", [["log"], ["log", "--json"], ["state", "--json"]])
def test_a_reader_that_stops_early_ends_it_quietly(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "long.db"
    lines = session_lines(3) + [
        {"type": "PositionReported", "at": T0 + 10_000 + 200 * n, "position_ms": 200 * n}
        for n in range(3_000)
    ]
    assert main(["--db", str(db), "ingest", str(write_session(tmp_path / "s.jsonl", lines))]) == 0
    cli = [sys.executable, "-m", "adapters.cli", "--db", str(db), *command]
    with subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as running:
        assert running.stdout is not None and running.stderr is not None
        running.stdout.read(10)
        running.stdout.close()  # as `| head -c 10` does
        err = running.stderr.read().decode()
        code = running.wait(timeout=60)
    assert err == ""
    assert code in (0, 141)
