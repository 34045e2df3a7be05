"""Database files tierbuffer must refuse: each with a one-line error, and nothing written.

"Nothing written" is checked on the whole folder: the file's bytes are unchanged and no -wal, -shm
or -journal file appeared beside it.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.cli import main
from storage.errors import (
    DatabaseError,
    MissingDatabaseError,
    NotADatabaseError,
    SchemaError,
)
from storage.sqlite_store import SqliteEventStore
from tests.support.clock import FixedClock
from tests.support.events import checkpoint, session_lines, sidecars, sqlite_exec, write_session

NOBODY = 65534


def folder_state(folder: Path) -> dict[str, bytes | None]:
    """Every entry under `folder`: file bytes, or None for a directory."""
    return {
        str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(folder.rglob("*"))
    }


def _text(path: Path, populated: Path) -> None:
    path.write_text("this is my shopping list\n" * 200, encoding="utf-8")


def _random(path: Path, populated: Path) -> None:
    path.write_bytes(random.Random(42).randbytes(16_384))


def _truncated(path: Path, populated: Path) -> None:
    checkpoint(populated)
    assert not sidecars(populated)
    data = populated.read_bytes()
    assert len(data) >= 4 * 4096, "the database should span several pages"
    path.write_bytes(data[: len(data) // 2])


def _directory(path: Path, populated: Path) -> None:
    path.mkdir()
    (path / "inside.txt").write_text("x", encoding="utf-8")


def _newer(path: Path, populated: Path) -> None:
    shutil.copyfile(populated, path)
    sqlite_exec(path, "UPDATE alembic_version SET version_num = '9999'")
    checkpoint(path)


def _foreign(path: Path, populated: Path) -> None:
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO customers (name) VALUES ('Ada'), ('Grace')")
    connection.close()


BAD_FILES: dict[str, tuple[Callable[[Path, Path], None], type[DatabaseError], str]] = {
    "text": (_text, NotADatabaseError, "not an sqlite database"),
    "random-bytes": (_random, NotADatabaseError, "not an sqlite database"),
    "truncated": (_truncated, NotADatabaseError, "truncated"),
    "directory": (_directory, DatabaseError, "directory"),
    "newer-revision": (_newer, SchemaError, "newer tierbuffer"),
    "other-application": (_foreign, SchemaError, "not tierbuffer"),
}


@pytest.fixture(params=sorted(BAD_FILES))
def bad_case(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bad_db(bad_case: str, tmp_path: Path, populated_db: Path) -> Iterator[Path]:
    folder = tmp_path / "bad"
    folder.mkdir()
    path = folder / "tierbuffer.db"
    make, _, _ = BAD_FILES[bad_case]
    make(path, populated_db)
    assert not sidecars(path)
    yield path


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


@pytest.mark.anyio
@pytest.mark.parametrize("create", [True, False], ids=["create", "no-create"])
async def test_opening_a_bad_file_fails_cleanly_and_writes_nothing(
    bad_case: str, bad_db: Path, create: bool
) -> None:
    _, error, needle = BAD_FILES[bad_case]
    before = folder_state(bad_db.parent)
    with pytest.raises(error) as raised:
        await SqliteEventStore.open(bad_db, clock=FixedClock(), create=create, migrate=create)
    message = str(raised.value)
    assert "\n" not in message
    assert needle in message.lower()
    assert str(bad_db) in message
    assert folder_state(bad_db.parent) == before


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


@pytest.mark.anyio
async def test_a_missing_file_is_refused_without_create(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "tierbuffer.db"
    with pytest.raises(MissingDatabaseError) as raised:
        await SqliteEventStore.open(path, clock=FixedClock(), create=False)
    assert "\n" not in str(raised.value)
    assert not path.parent.exists()


@pytest.mark.anyio
async def test_an_empty_file_is_refused_without_create(tmp_path: Path) -> None:
    path = tmp_path / "tierbuffer.db"
    path.touch()
    with pytest.raises(MissingDatabaseError):
        await SqliteEventStore.open(path, clock=FixedClock(), create=False)
    assert path.read_bytes() == b""
    assert not sidecars(path)


@pytest.mark.parametrize("command", ["state", "log", "verify", "replay"])
def test_cli_reading_commands_do_not_create_a_missing_database(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nowhere" / "tierbuffer.db"
    code = main(["--db", str(path), command])
    assert_one_line_cli_error(capsys, code, "no database")
    assert not path.parent.exists()


@pytest.mark.anyio
async def test_the_newer_database_is_left_byte_for_byte_untouched_by_migrate(
    tmp_path: Path, populated_db: Path
) -> None:
    path = tmp_path / "newer.db"
    _newer(path, populated_db)
    before = folder_state(tmp_path)
    for migrate in (True, False):
        with pytest.raises(SchemaError, match="newer tierbuffer"):
            await SqliteEventStore.open(path, clock=FixedClock(), migrate=migrate)
    assert folder_state(tmp_path) == before
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("9999",)
        ]
        assert connection.execute("SELECT COUNT(*) FROM events").fetchone() == (300,)
    finally:
        connection.close()


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


# --- read-only: needs a user that root's permission bypass does not apply to --------------------


@functools.cache
def _unprivileged_python() -> tuple[tuple[str, ...], str | None]:
    """A command running Python with this project importable as `nobody`, or why there is none."""
    site_packages = sysconfig.get_paths()["purelib"]
    bootstrap = (
        f"import site, sys; site.addsitedir({site_packages!r}); "
        "from adapters.cli import main; sys.exit(main())"
    )
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [sys.executable]
    for folder in ("/usr/bin", "/usr/local/bin", "/bin"):
        candidate = Path(folder) / version
        if candidate.exists():
            candidates.append(str(candidate))
    reasons = []
    for python in candidates:
        try:
            probe = subprocess.run(
                [python, "-c", bootstrap.replace("sys.exit(main())", "print('ok')")],
                user=NOBODY,
                group=NOBODY,
                extra_groups=[],
                capture_output=True,
                text=True,
                timeout=60,
                cwd="/",
            )
        except (PermissionError, OSError) as e:
            reasons.append(f"{python}: {e}")
            continue
        if probe.returncode == 0 and probe.stdout.strip() == "ok":
            return (python, "-c", bootstrap), None
        reasons.append(f"{python}: exit {probe.returncode} {probe.stderr.strip()[-200:]}")
    return (), "cannot run tierbuffer as uid 65534: " + "; ".join(reasons)


@pytest.fixture
def read_only_folder(populated_db: Path) -> Iterator[Path]:
    """A root-owned 0755 folder outside pytest's private tmp tree, with a 0444 database in it."""
    folder = Path(tempfile.mkdtemp(prefix="tierbuffer-ro-"))
    try:
        folder.chmod(0o755)
        checkpoint(populated_db)
        db = folder / "tierbuffer.db"
        shutil.copyfile(populated_db, db)
        db.chmod(0o444)
        session = write_session(folder / "session.jsonl", session_lines(5))
        session.chmod(0o444)
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("command", ["ingest", "state", "migrate"])
def test_read_only_database_gives_one_line_error_as_an_unprivileged_user(
    read_only_folder: Path, command: str
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to uid 65534")
    python, reason = _unprivileged_python()
    if reason is not None:
        print(reason)  # noqa: T201 - the reason belongs in the test output
        pytest.skip(reason)
    db = read_only_folder / "tierbuffer.db"
    argv = ["--db", str(db), command]
    if command == "ingest":
        argv.append(str(read_only_folder / "session.jsonl"))
    before = folder_state(read_only_folder)
    result = subprocess.run(
        [*python, *argv],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tierbuffer: error: "), result.stderr
    assert "read-only" in lines[0]
    assert "Traceback" not in result.stderr
    assert folder_state(read_only_folder) == before
