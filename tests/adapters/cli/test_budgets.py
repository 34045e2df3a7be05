"""`tierbuffer budgets`: shown from the log, set as `BudgetsSet` events."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from adapters.cli import main
from tests.support.events import session_lines, write_session


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "budgets.db"
    assert (
        main(
            [
                "--db",
                str(path),
                "ingest",
                str(write_session(tmp_path / "s.jsonl", session_lines(5))),
            ]
        )
        == 0
    )
    return path


def rows(out: str) -> dict[str, list[str]]:
    return {
        line.split()[0]: line.split()[1:]
        for line in out.splitlines()
        if line[:2] in ("L1", "L2", "L3")
    }


def test_show_reads_the_defaults_without_writing(db: Path) -> None:
    before = db.read_bytes()
    code, out = run("--db", str(db), "budgets")
    assert code == 0
    assert rows(out)["L1"][:4] == ["18.0", "MB", "18.0", "MB"]
    assert rows(out)["L3"][:2] == ["45.0", "MB"]
    assert "memory pressure: normal" in out
    assert db.read_bytes() == before


def test_set_appends_one_budgets_set_and_keeps_what_was_not_given(db: Path) -> None:
    code, out = run("--db", str(db), "budgets", "--l1", "20", "--l3", "0")
    assert code == 0 and "BudgetsSet at sequence 6" in out
    assert rows(out)["L1"][:2] == ["20.0", "MB"] and rows(out)["L2"][:2] == ["36.0", "MB"]
    assert rows(out)["L3"][:2] == ["0.0", "MB"]
    code, out = run("--db", str(db), "log", "--json", "--type", "BudgetsSet")
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert event["type"] == "BudgetsSet"
    assert event["payload"] == {
        "l1_bytes": 20_000_000,
        "l2_bytes": 36_000_000,
        "l3_bytes": 0,
    }
    code, out = run("--db", str(db), "budgets", "--l2", "12.5")
    assert rows(out)["L1"][:2] == ["20.0", "MB"] and rows(out)["L2"][:2] == ["12.5", "MB"]


def test_memory_pressure_shows_the_budgets_in_force(db: Path, tmp_path: Path) -> None:
    pressure = tmp_path / "pressure.jsonl"
    pressure.write_text(
        json.dumps(
            {
                "type": "MemoryPressureChanged",
                "at": 1_800_000_000_000,
                "level": "warning",
                "used_fraction": 0.8,
            }
        )
        + "\n"
    )
    assert main(["--db", str(db), "ingest", str(pressure)]) == 0
    code, out = run("--db", str(db), "budgets")
    assert rows(out)["L1"][:4] == ["18.0", "MB", "12.0", "MB"]  # 2/3 under warning
    assert rows(out)["L3"][:4] == ["45.0", "MB", "0.0", "MB"]
    assert "memory pressure: warning" in out


def test_showing_a_missing_log_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--db", str(tmp_path / "none" / "x.db"), "budgets"])
    assert code == 2 and "no database" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
