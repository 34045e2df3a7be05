"""`tierbuffer verify`: exit 1 naming the first bad row; snapshots checked against a replay."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from adapters.cli import main
from tests.support.databases import corrupt_snapshot_bytes, snapshot_at


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
