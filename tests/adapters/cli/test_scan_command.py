"""`tierbuffer scan --library DIR` through its own parser (the main CLI wires `register`)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import anyio
import pytest

from adapters.cli.library import register
from tests.support.audio import write_audio


def run(db: Path, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="tierbuffer")
    parser.add_argument("--db", type=Path)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["--db", str(db), *argv])
    out = io.StringIO()
    code = anyio.run(args.run, args, out, backend="asyncio")
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


def test_scan_of_a_missing_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(tmp_path / "log.db", "scan", "--library", str(tmp_path / "nope"))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "library folder not found" in err


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
