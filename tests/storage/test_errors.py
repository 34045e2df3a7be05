"""Driver errors are translated once, by SQLite's result code, never by message text."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage.errors import (
    DatabaseBusyError,
    DatabaseError,
    NotADatabaseError,
    ReadOnlyDatabaseError,
)
from storage.sqlite_file import translate


def _error(code: int, name: str, message: str) -> sqlite3.Error:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code
    error.sqlite_errorname = name
    return error


@pytest.mark.parametrize(
    ("code", "name", "kind"),
    [
        (5, "SQLITE_BUSY", DatabaseBusyError),
        (517, "SQLITE_BUSY_SNAPSHOT", DatabaseBusyError),
        (6, "SQLITE_LOCKED", DatabaseBusyError),
        (8, "SQLITE_READONLY", ReadOnlyDatabaseError),
        (1032, "SQLITE_READONLY_DBMOVED", ReadOnlyDatabaseError),
        (26, "SQLITE_NOTADB", NotADatabaseError),
        (11, "SQLITE_CORRUPT", NotADatabaseError),
    ],
)
def test_the_result_code_decides_the_kind(code: int, name: str, kind: type) -> None:
    translated = translate(Path("x.db"), _error(code, name, "some words"))
    assert type(translated) is kind


def test_the_message_text_decides_nothing() -> None:
    """A message that reads like "locked" or "readonly" does not make it so."""
    error = _error(1, "SQLITE_ERROR", "database is locked; readonly; malformed")
    translated = translate(Path("x.db"), error)
    assert type(translated) is DatabaseError
    assert "SQLITE_ERROR" in str(translated)


def test_a_real_driver_error_is_translated_by_its_code(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"x" * 4096)
    connection = sqlite3.connect(bad)
    try:
        with pytest.raises(sqlite3.DatabaseError) as raised:
            connection.execute("SELECT * FROM sqlite_master").fetchall()
    finally:
        connection.close()
    assert isinstance(translate(bad, raised.value), NotADatabaseError)
