"""Database files the CLI must refuse: one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.cli import main
from tests.support.databases import (
    BAD_FILES,
    _text,
    folder_state,
)
from tests.support.events import session_lines, sidecars, write_session


def assert_one_line_cli_error(capsys: pytest.CaptureFixture[str], code: int, *needles: str) -> str:
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("tierbuffer: error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    for needle in needles:
        assert needle in lines[0].lower(), lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["state", "log", "verify", "replay", "ingest", "migrate"])
def test_cli_on_a_bad_file_exits_2_with_one_line(
    bad_case: str,
    bad_db: Path,
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, _, needle = BAD_FILES[bad_case]
    session = write_session(tmp_path / "session.jsonl", session_lines(4))
    argv = ["--db", str(bad_db), command] + ([str(session)] if command == "ingest" else [])
    before = folder_state(bad_db.parent)
    code = main(argv)
    assert_one_line_cli_error(capsys, code, needle)
    assert folder_state(bad_db.parent) == before


@pytest.mark.parametrize("command", ["state", "log", "verify", "replay"])
def test_cli_reading_commands_do_not_create_a_missing_database(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nowhere" / "tierbuffer.db"
    code = main(["--db", str(path), command])
    assert_one_line_cli_error(capsys, code, "no database")
    assert not path.parent.exists()


def test_cli_error_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    _text(path, path)
    before = path.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "--db", str(path), "state"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("tierbuffer: error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert path.read_bytes() == before
    assert not sidecars(path)
