"""`tierbuffer verify`: exit 1 naming the first bad row; snapshots checked against a replay."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from adapters.cli import main
from tests.support.databases import corrupt_snapshot_bytes, snapshot_at
from tests.support.events import sqlite_exec


def test_cli_verify_fails_with_exit_1_naming_the_row(
    tampered: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    db, first_bad = tampered
    assert main(["--db", str(db), "verify"]) == 1
    out = capsys.readouterr().out
    assert f"FAILED at sequence {first_bad}:" in out
    assert "ok:" not in out


def test_cli_verify_passes_on_the_intact_log(
    populated_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(populated_db), "verify"]) == 0
    verified = capsys.readouterr().out
    assert "ok: 300 events" in verified
    assert main(["--db", str(populated_db), "replay"]) == 0
    replayed = capsys.readouterr().out
    hash_lines = [line for line in verified.splitlines() if line.startswith("state-hash: ")]
    assert len(hash_lines) == 1
    assert hash_lines[0] in replayed.splitlines()


def test_cli_on_an_altered_snapshot(populated_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    anyio.run(snapshot_at, populated_db, 200, backend="asyncio")
    corrupt_snapshot_bytes(populated_db, 200)
    assert main(["--db", str(populated_db), "verify"]) == 1
    assert "FAILED: snapshot" in capsys.readouterr().out
    assert main(["--db", str(populated_db), "state"]) == 0
    state_out = capsys.readouterr().out
    assert "warning: snapshot" in state_out and "skipped" in state_out
    assert main(["--db", str(populated_db), "replay"]) == 0
    replay_out = capsys.readouterr().out
    hashes = [
        line for line in (state_out + replay_out).splitlines() if line.startswith("state-hash: ")
    ]
    assert len(hashes) == 2 and hashes[0] == hashes[1]


def test_export_of_a_tampered_log_fails_naming_the_row_and_leaves_no_file(
    tampered: tuple[Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, first_bad = tampered
    target = tmp_path / "export.jsonl"
    assert main(["--db", str(db), "export", str(target)]) == 1
    assert f"FAILED at sequence {first_bad}:" in capsys.readouterr().out
    assert not target.exists()
    assert list(tmp_path.glob(".export.jsonl*")) == []


@pytest.mark.parametrize("command", ["state", "log"])
def test_state_and_log_refuse_to_fold_an_altered_event(
    tampered: tuple[Path, int], command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither folds past an event that does not verify: one line naming it, exit 2."""
    db, first_bad = tampered
    assert main(["--db", str(db), command]) == 2
    err = capsys.readouterr().err
    assert f"fails verification at sequence {first_bad}" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_an_anchor_makes_a_cut_off_tail_detectable(
    populated_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchor = tmp_path / "elsewhere" / "head.anchor"
    anchor.parent.mkdir()
    assert main(["--db", str(populated_db), "verify", "--anchor", str(anchor)]) == 0
    assert anchor.read_text().startswith("300:")
    assert f"anchor {anchor}: 300:" in capsys.readouterr().out
    export = tmp_path / "export.jsonl"
    assert main(["--db", str(populated_db), "export", str(export), "--anchor", str(anchor)]) == 0
    capsys.readouterr()

    # The newest events are removed: the chain that is left still verifies on its own ...
    sqlite_exec(populated_db, "DELETE FROM events WHERE seq > 280")
    assert main(["--db", str(populated_db), "verify"]) == 0
    capsys.readouterr()
    # ... but not against the anchor, and the anchor is left as it was.
    assert main(["--db", str(populated_db), "verify", "--anchor", str(anchor)]) == 1
    out = capsys.readouterr().out
    assert "FAILED at sequence 281:" in out and "the log ends at sequence 280" in out
    assert anchor.read_text().startswith("300:")
    assert main(["--db", str(populated_db), "export", str(tmp_path / "x"), "--anchor", str(anchor)])
    assert "FAILED at sequence 281:" in capsys.readouterr().out
    # An export of the whole log still matches it; one of the cut log does not.
    assert main(["verify", "--file", str(export), "--anchor", str(anchor)]) == 0
    capsys.readouterr()
    cut = tmp_path / "cut.jsonl"
    lines = export.read_text().splitlines()
    cut.write_text("\n".join(lines[:281]) + "\n")
    assert main(["verify", "--file", str(cut), "--anchor", str(anchor)]) == 1
    assert "FAILED at sequence 281:" in capsys.readouterr().out


def test_an_anchor_of_another_log_fails_and_a_bad_anchor_file_is_one_line(
    populated_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchor = tmp_path / "head.anchor"
    anchor.write_text(f"120:{'ab' * 32}\n")
    assert main(["--db", str(populated_db), "verify", "--anchor", str(anchor)]) == 1
    assert "FAILED at sequence 120:" in capsys.readouterr().out
    anchor.write_text("not an anchor\n")
    assert main(["--db", str(populated_db), "verify", "--anchor", str(anchor)]) == 2
    err = capsys.readouterr().err
    assert "not an anchor" in err and err.count("\n") == 1
