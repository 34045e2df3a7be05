"""The command line, mostly in-process through `adapters.cli.main`; one real process for stderr."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters.audit.export import parse_moment
from adapters.cli import main
from adapters.ingest import EventParseError
from storage.sqlite_rows import id_text
from tests.support.events import T0, session_lines, sidecars, sqlite_rows, write_session

COMMANDS = ["ingest", "log", "state", "verify", "replay", "migrate"]
HEX64 = re.compile(r"[0-9a-f]{64}")


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        out = io.StringIO()
        self._capsys.readouterr()
        code = main(list(argv), out=out)
        captured = self._capsys.readouterr()
        return code, out.getvalue() + captured.out, captured.err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


def events_in(db: Path) -> list[tuple[Any, ...]]:
    rows = sqlite_rows(
        db,
        "SELECT seq, event_id, name, lower(hex(hash)) FROM events "
        "JOIN event_types ON code = type_code ORDER BY seq",
    )
    return [(seq, id_text(raw), kind, digest) for seq, raw, kind, digest in rows]


def state_hash_in(out: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith("state-hash: ")]
    value = line.removeprefix("state-hash: ")
    assert HEX64.fullmatch(value), line
    return value


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("tierbuffer: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


@pytest.fixture
def ingested(tmp_path: Path, db_path: Path, cli: Cli) -> Path:
    session = write_session(tmp_path / "session.jsonl", session_lines(10))
    code, out, err = cli("--db", str(db_path), "ingest", str(session))
    assert code == 0, err
    assert "appended 10 events (0 already in the log), sequence 1..10" in out
    return db_path


# --- ingest ------------------------------------------------------------------------------------


BAD_THIRD_LINES = {
    "not-json": "{this is not json",
    "not-an-object": "[1, 2, 3]",
    "unknown-type": json.dumps({"type": "Exploded", "at": T0}),
    "missing-at": json.dumps({"type": "Paused"}),
    "naive-time": json.dumps({"type": "Paused", "at": "2026-01-01T00:00:00"}),
    "negative-time": json.dumps({"type": "Paused", "at": -5}),
    "bad-field": json.dumps({"type": "PresetChanged", "at": T0, "preset": "loud"}),
    "unknown-field": json.dumps({"type": "Paused", "at": T0, "volume": 11}),
    "bad-id": json.dumps({"type": "Paused", "at": T0, "id": "nope"}),
    "intensity-out-of-range": json.dumps({"type": "IntensityChanged", "at": T0, "intensity": 2}),
}


@pytest.mark.parametrize("bad", sorted(BAD_THIRD_LINES))
@pytest.mark.parametrize("log", ["new", "existing"])
def test_ingest_with_a_bad_line_appends_nothing_of_the_file(
    tmp_path: Path, db_path: Path, cli: Cli, bad: str, log: str
) -> None:
    if log == "existing":
        code, _, err = cli(
            "--db",
            str(db_path),
            "ingest",
            str(write_session(tmp_path / "earlier.jsonl", session_lines(4))),
        )
        assert code == 0, err
    before = events_in(db_path) if db_path.exists() else None
    good = [json.dumps(entry) for entry in session_lines(6)]
    session = tmp_path / "bad.jsonl"
    session.write_text("\n".join([*good[:2], BAD_THIRD_LINES[bad], *good[2:]]) + "\n")

    code, out, err = cli("--db", str(db_path), "ingest", str(session))
    assert_one_line_error(code, err, f"{session}:3:")
    assert out == ""
    if before is None:
        assert not db_path.exists(), "a rejected file must not even create the database"
    else:
        assert events_in(db_path) == before


def test_line_numbers_count_blank_and_comment_lines(
    tmp_path: Path, db_path: Path, cli: Cli
) -> None:
    session = tmp_path / "commented.jsonl"
    good = json.dumps(session_lines(1)[0])
    session.write_text(f"# a recorded session\n\n{good}\n\n{{oops\n")
    code, _, err = cli("--db", str(db_path), "ingest", str(session))
    assert_one_line_error(code, err, f"{session}:5:")


def test_ingest_of_a_missing_file(tmp_path: Path, db_path: Path, cli: Cli) -> None:
    code, _, err = cli("--db", str(db_path), "ingest", str(tmp_path / "absent.jsonl"))
    assert_one_line_error(code, err, "absent.jsonl")
    assert not db_path.exists()


def test_reingesting_the_same_file_appends_nothing(
    ingested: Path, tmp_path: Path, cli: Cli
) -> None:
    before = events_in(ingested)
    code, out, err = cli("--db", str(ingested), "ingest", str(tmp_path / "session.jsonl"))
    assert code == 0, err
    assert "appended 0 events (10 already in the log)" in out
    assert events_in(ingested) == before


def test_a_bad_line_in_a_real_process(tmp_path: Path, db_path: Path) -> None:
    good = [json.dumps(entry) for entry in session_lines(5)]
    session = tmp_path / "bad.jsonl"
    session.write_text("\n".join([*good[:2], "{nope", *good[2:]]) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "--db", str(db_path), "ingest", str(session)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert_one_line_error(result.returncode, result.stderr, f"{session}:3:")
    assert result.stdout == ""
    assert not db_path.exists() and not sidecars(db_path)


# --- log ---------------------------------------------------------------------------------------


def test_log_json_lines_carry_payload_and_hash(ingested: Path, cli: Cli) -> None:
    code, out, err = cli("--db", str(ingested), "log", "--json")
    assert code == 0, err
    entries = [json.loads(line) for line in out.splitlines()]
    assert [e["seq"] for e in entries] == list(range(1, 11))
    stored = events_in(ingested)
    for entry, (seq, event_id, event_type, hash_) in zip(entries, stored, strict=True):
        assert entry["seq"] == seq
        assert entry["event_id"] == event_id
        assert entry["type"] == event_type
        assert entry["hash"] == hash_ and HEX64.fullmatch(hash_)
        assert isinstance(entry["payload"], dict)
        assert "type" not in entry["payload"]  # the type is the row's own field
        assert isinstance(entry["occurred_at"], int) and isinstance(entry["recorded_at"], int)
        assert entry["version"] >= 1
    assert entries[0]["payload"]["track"] == "t1"
    assert entries[0]["occurred_at"] == T0
    assert entries[3]["payload"]["preset"] == "warm"


def _seqs(cli: Cli, db: Path, *filters: str) -> list[int]:
    code, out, err = cli("--db", str(db), "log", "--json", *filters)
    assert code == 0, err
    return [json.loads(line)["seq"] for line in out.splitlines()]


def test_log_filters(ingested: Path, cli: Cli) -> None:
    # session_lines: 1 TrackAdded t1, 2 TrackAdded t2, 3 TrackChanged t1, 4 PresetChanged,
    # 5 Seeked, 6 Paused, 7 Resumed, 8 IntensityChanged, 9 TrackChanged t2, 10 PositionReported
    assert _seqs(cli, ingested, "--type", "TrackAdded") == [1, 2]
    assert _seqs(cli, ingested, "--type", "TrackChanged", "--type", "Paused") == [3, 6, 9]
    assert _seqs(cli, ingested, "--track", "t1") == [1, 3]
    assert _seqs(cli, ingested, "--track", "t2") == [2, 9]
    assert _seqs(cli, ingested, "--since", "7") == [8, 9, 10]
    assert _seqs(cli, ingested, "--since", "10") == []
    assert _seqs(cli, ingested, "--since", "2", "--type", "TrackChanged", "--track", "t2") == [9]


def test_log_text_is_one_line_per_event(ingested: Path, cli: Cli) -> None:
    code, out, err = cli("--db", str(ingested), "log", "--since", "3", "--type", "PresetChanged")
    assert code == 0, err
    (line,) = out.splitlines()
    assert "PresetChanged" in line and '"warm"' in line and line.split()[0] == "4"


def test_log_rejects_an_unknown_type(ingested: Path, cli: Cli) -> None:
    with pytest.raises(SystemExit) as raised:
        cli("--db", str(ingested), "log", "--type", "Exploded")
    assert raised.value.code == 2


def test_log_of_an_empty_database(db_path: Path, cli: Cli) -> None:
    assert cli("--db", str(db_path), "migrate")[0] == 0
    assert cli("--db", str(db_path), "log") == (0, "", "")


# --- state and replay --------------------------------------------------------------------------


def testprinted_state_hash_equals_replay(ingested: Path, cli: Cli) -> None:
    code, state_out, err = cli("--db", str(ingested), "state")
    assert code == 0, err
    assert "sequence:   10" in state_out
    assert "library:    2 tracks" in state_out
    code, replay_out, err = cli("--db", str(ingested), "replay")
    assert code == 0, err
    assert "replayed 10 events" in replay_out
    assert state_hash_in(state_out) == state_hash_in(replay_out)

    code, json_out, err = cli("--db", str(ingested), "state", "--json")
    assert code == 0, err
    document = json.loads(json_out)
    assert document["state_hash"] == state_hash_in(state_out)
    assert document["state"]["seq"] == 10
    assert set(document["state"]["tracks"]) == {"t1", "t2"}


def test_state_of_an_empty_log(db_path: Path, cli: Cli) -> None:
    assert cli("--db", str(db_path), "migrate")[0] == 0
    code, out, err = cli("--db", str(db_path), "state")
    assert code == 0, err
    assert "sequence:   0" in out
    state_hash_in(out)


# --- help and database location ------------------------------------------------------------


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_exits_0(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tierbuffer")
    if command is not None:
        assert command in out.splitlines()[0]


def test_tierbuffer_db_sets_the_default_path(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "from-env" / "log.db"
    monkeypatch.setenv("TIERBUFFER_DB", str(target))
    session = write_session(tmp_path / "s.jsonl", session_lines(3))
    code, out, err = cli("ingest", str(session))
    assert code == 0, err
    assert str(target) in out
    assert len(events_in(target)) == 3
    code, out, _ = cli("log", "--json")
    assert len(out.splitlines()) == 3

    # --db wins over the environment.
    explicit = tmp_path / "explicit.db"
    assert cli("--db", str(explicit), "ingest", str(session))[0] == 0
    assert len(events_in(explicit)) == 3
    assert len(events_in(target)) == 3


def test_without_tierbuffer_db_the_data_directory_is_used(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIERBUFFER_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    session = write_session(tmp_path / "s.jsonl", session_lines(2))
    assert cli("ingest", str(session))[0] == 0
    assert len(events_in(tmp_path / "data" / "tierbuffer" / "tierbuffer.db")) == 2


@pytest.mark.parametrize("text", ["²", "١٢٣", "12³"])
def test_a_time_of_non_ascii_digits_is_a_parse_error_not_a_crash(text: str) -> None:
    """str.isdigit() accepts superscripts and other scripts' digits, which int() refuses."""
    with pytest.raises(EventParseError):
        parse_moment(text)
