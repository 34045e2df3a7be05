"""`ingest --snapshot-every`: snapshots written by the CLI, and `state` agreeing with `replay`."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.cli import main
from tests.support.databases import printed_state_hash
from tests.support.events import session_lines, sqlite_rows, write_session


def test_cli_ingest_writes_snapshots_and_state_agrees_with_replay(
    tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_session(tmp_path / "first.jsonl", session_lines(25))
    second = write_session(tmp_path / "second.jsonl", session_lines(12))
    db = str(db_path)

    assert main(["--db", db, "ingest", "--snapshot-every", "10", str(first)]) == 0
    assert "snapshot written at sequence 25" in capsys.readouterr().out
    assert main(["--db", db, "ingest", "--snapshot-every", "10", str(second)]) == 0
    assert "snapshot written at sequence 37" in capsys.readouterr().out
    assert sqlite_rows(db_path, "SELECT seq FROM snapshots ORDER BY seq") == [(25,), (37,)]

    assert main(["--db", db, "state"]) == 0
    state_out = capsys.readouterr().out
    assert "warning" not in state_out
    assert main(["--db", db, "replay"]) == 0
    replay_out = capsys.readouterr().out
    assert "replayed 37 events" in replay_out
    assert printed_state_hash(state_out) == printed_state_hash(replay_out)
    assert main(["--db", db, "verify"]) == 0
    assert printed_state_hash(capsys.readouterr().out) == printed_state_hash(replay_out)


def test_cli_ingest_without_snapshots(
    tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(tmp_path / "s.jsonl", session_lines(30))
    assert main(["--db", str(db_path), "ingest", "--snapshot-every", "0", str(session)]) == 0
    assert "snapshot" not in capsys.readouterr().out
    assert sqlite_rows(db_path, "SELECT COUNT(*) FROM snapshots") == [(0,)]
    # The default interval is far above 30 events.
    other = write_session(tmp_path / "t.jsonl", session_lines(31))
    assert main(["--db", str(db_path), "ingest", str(other)]) == 0
    assert sqlite_rows(db_path, "SELECT COUNT(*) FROM snapshots") == [(0,)]
