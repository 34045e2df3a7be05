"""`tierbuffer migrate` and the schema checks of the other commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapters.cli import main
from storage.migrate import head_revision
from tests.support.databases import (
    REPO,
    expected_schema,
    revision_of,
    schema_less_database,
    schema_of,
)


def test_cli_migrate_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "tierbuffer.db"
    assert main(["--db", str(db), "migrate"]) == 0
    assert main(["--db", str(db), "migrate"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{db}: schema up to date (0 events)"] * 2
    assert schema_of(db) == expected_schema()


def test_cli_refuses_out_of_date_schema_then_migrate_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = schema_less_database(tmp_path / "old.db")
    assert main(["--db", str(db), "state"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tierbuffer: error: ") and err.count("\n") == 1
    assert "migrate" in err
    assert schema_of(db) == []

    assert main(["--db", str(db), "migrate"]) == 0
    assert main(["--db", str(db), "state"]) == 0
    assert "state-hash: " in capsys.readouterr().out


def test_alembic_by_hand_upgrades_to_head(tmp_path: Path) -> None:
    db = tmp_path / "by-hand.db"
    alembic = Path(sys.executable).parent / "alembic"
    ini = REPO / "migrations" / "alembic.ini"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(alembic), "-c", str(ini), "-x", f"db={db}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )

    upgraded = run("upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    assert revision_of(db) == [head_revision()]
    assert schema_of(db) == expected_schema()
    current = run("current")
    assert current.returncode == 0, current.stderr
    assert f"{head_revision()} (head)" in current.stdout
    # tierbuffer accepts the result without migrating anything itself.
    assert main(["--db", str(db), "verify"]) == 0
