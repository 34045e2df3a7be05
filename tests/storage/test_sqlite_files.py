"""Database files tierbuffer must refuse: each with a one-line error, and nothing written.

"Nothing written" is checked on the whole folder: the file's bytes are unchanged and no -wal, -shm
or -journal file appeared beside it.
"""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.errors import (
    MissingDatabaseError,
    SchemaError,
)
from storage.sqlite_store import SqliteEventStore
from tests.support.clock import FixedClock
from tests.support.databases import (
    BAD_FILES,
    _newer,
    folder_state,
)
from tests.support.events import checkpoint, session_lines, sidecars, write_session

NOBODY = 65534


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


@pytest.fixture(params=["read-only folder", "read-only file"])
def read_only_folder(request: pytest.FixtureRequest, populated_db: Path) -> Iterator[Path]:
    """A root-owned folder outside pytest's private tmp tree with a 0444 database in it: the
    folder 0755 (nobody may write anything there), or 0777 (nobody may create files beside the
    database, which SQLite would do, but not write the database itself)."""
    folder = Path(tempfile.mkdtemp(prefix="tierbuffer-ro-"))
    try:
        checkpoint(populated_db)
        db = folder / "tierbuffer.db"
        shutil.copyfile(populated_db, db)
        db.chmod(0o444)
        session = write_session(folder / "session.jsonl", session_lines(5))
        session.chmod(0o444)
        folder.chmod(0o755 if request.param == "read-only folder" else 0o777)
        yield folder
    finally:
        shutil.rmtree(folder)


def _as_nobody(folder: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to uid 65534")
    python, reason = _unprivileged_python()
    if reason is not None:
        print(reason)  # noqa: T201 - the reason belongs in the test output
        pytest.skip(reason)
    return subprocess.run(
        [*python, "--db", str(folder / "tierbuffer.db"), *argv],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"},
    )


@pytest.mark.parametrize("command", ["ingest", "migrate", "budgets"])
def test_writing_to_a_read_only_database_is_one_line_and_leaves_nothing(
    read_only_folder: Path, command: str
) -> None:
    argv = {
        "ingest": ["ingest", str(read_only_folder / "session.jsonl")],
        "migrate": ["migrate"],
        "budgets": ["budgets", "--l1", "5"],
    }[command]
    before = folder_state(read_only_folder)
    result = _as_nobody(read_only_folder, *argv)
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tierbuffer: error: "), result.stderr
    assert "read-only" in lines[0]
    assert "Traceback" not in result.stderr
    assert folder_state(read_only_folder) == before  # no -wal/-shm left beside it


@pytest.mark.parametrize("command", ["state", "log", "verify", "replay", "budgets"])
def test_a_read_only_database_can_be_read_and_nothing_is_left_beside_it(
    read_only_folder: Path, command: str
) -> None:
    before = folder_state(read_only_folder)
    result = _as_nobody(read_only_folder, command)
    assert result.returncode == 0, result
    assert result.stderr == ""
    assert result.stdout
    assert folder_state(read_only_folder) == before
