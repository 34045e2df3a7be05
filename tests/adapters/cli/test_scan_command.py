"""`tierbuffer scan --library DIR`."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from adapters.cli import main
from tests.support.audio import write_audio


def run(db: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--db", str(db), *argv], out=out)
    return code, out.getvalue()


def test_scan_appends_once_and_summarises(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_audio(library / "a.wav")
    (library / "b.m4a").write_bytes(b"not decodable")
    db = tmp_path / "log.db"
    code, out = run(db, "scan", "--library", str(library))
    assert code == 0
    assert "1 added" in out and "1 unreadable" in out and "appended 2 events" in out
    assert 'unreadable "b.m4a" (unsupported' in out
    assert capsys.readouterr().err == ""  # not a terminal: no progress bar
    code, out = run(db, "scan", "--library", str(library))
    assert code == 0 and "appended 0 events" in out and "2 unchanged" in out


def test_scan_of_a_missing_folder_is_one_line_and_creates_no_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "data" / "log.db"
    code, _ = run(db, "scan", "--library", str(tmp_path / "nope"))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"library folder {tmp_path / 'nope'} is missing" in err
    assert not db.parent.exists()


def test_scan_of_an_unreadable_folder_is_refused_before_it_looks_empty(
    library: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A folder that cannot be listed would look empty: every track would be deleted."""
    write_audio(library / "a.wav")
    db = tmp_path / "log.db"
    assert run(db, "scan", "--library", str(library))[0] == 0
    before = db.read_bytes()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == library else real(p, m))
    code, _ = run(db, "scan", "--library", str(library))
    assert code == 2 and "cannot be read (permission denied)" in capsys.readouterr().err
    assert db.read_bytes() == before


def test_scan_of_an_empty_folder_while_tracks_are_known_is_refused(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mount point without its disk is an empty folder: scanning it would delete everything."""
    write_audio(library / "a.wav")
    db = tmp_path / "log.db"
    assert run(db, "scan", "--library", str(library))[0] == 0
    before = db.read_bytes()
    (library / "a.wav").unlink()
    code, _ = run(db, "scan", "--library", str(library))
    assert code == 2 and "is empty though 1 tracks are known" in capsys.readouterr().err
    assert db.read_bytes() == before


def test_scan_of_an_empty_folder_into_no_log_creates_nothing(library: Path, tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    code, out = run(db, "scan", "--library", str(library))
    assert code == 0 and "appended 0 events" in out
    assert not db.exists()


def test_progress_bar_when_asked(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_audio(library / "a.wav")
    code, _ = run(tmp_path / "log.db", "scan", "--library", str(library), "--progress")
    assert code == 0 and "1/1 files" in capsys.readouterr().err


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    root.mkdir()
    return root
