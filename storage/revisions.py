"""Which schema revision a database is at, and whether this tierbuffer can use it.

Reading commands check the revision without Alembic or SQLAlchemy (both cost far more to import
than the whole command takes): the revisions are read from the migration files themselves
(`revision = "…"`, `down_revision = …`), and only when a file does not state them as plain
literals does this fall back to asking Alembic. `storage.migrate` gives the same verdicts.
"""

from __future__ import annotations

import ast
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import migrations
from storage.errors import DatabaseError, ReadOnlyDatabaseError, SchemaError
from storage.location import Location
from storage.sqlite_file import (
    check_database_file,
    check_writable,
    checked_path,
    connect_read_only,
    translate,
)

if TYPE_CHECKING:
    from alembic.config import Config

OUR_TABLES = frozenset({"events", "event_types", "snapshots", "alembic_version"})


@dataclass(frozen=True, slots=True)
class Revisions:
    head: str
    known: frozenset[str]


def _literals(source: str) -> dict[str, object]:
    """Top-level `name = literal` (or `name: type = literal`) assignments of a module."""
    found: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                found[target.id] = value
    return found


def _from_files(folder: Path) -> Revisions | None:
    """The single head and every revision, or None when the files do not say plainly."""
    parents: dict[str, str | None] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py":
            continue
        values = _literals(path.read_text(encoding="utf-8"))
        revision, down = values.get("revision"), values.get("down_revision")
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            return None
        parents[revision] = down
    heads = set(parents) - {p for p in parents.values() if p is not None}
    if len(heads) != 1:
        return None
    return Revisions(heads.pop(), frozenset(parents))


def alembic_config() -> Config:
    """Alembic's configuration for the shipped migrations (Alembic is imported only here)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    return config


def revisions() -> Revisions:
    """The head revision this tierbuffer ships and every revision it knows."""
    folder = Path(migrations.__file__).parent / "versions"
    cheap = _from_files(folder)
    if cheap is not None:
        return cheap
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    if head is None:
        raise SchemaError(folder, "this tierbuffer ships no migrations (a broken installation)")
    return Revisions(head, frozenset(rev.revision for rev in script.walk_revisions()))


def read_revision(connection: sqlite3.Connection) -> tuple[str | None, set[str]]:
    """The stamped revision (None when there is none) and the tables of the database."""
    tables = {
        str(row[0])
        for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if "alembic_version" not in tables:
        return None, tables
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return (None if row is None else str(row[0])), tables


def needs_upgrade(
    path: Location, current: str | None, tables: set[str], known: Revisions, *, upgrade: bool
) -> bool:
    """True when the database is behind and `upgrade` allows bringing it to the head; raises
    `SchemaError` when it is from a newer tierbuffer, from another application, or behind and
    not to be upgraded here."""
    if current is not None and current not in known.known:
        raise SchemaError(
            path,
            f"schema revision {current} comes from a newer tierbuffer (this one knows up "
            f"to {known.head}); upgrade tierbuffer. Nothing was changed",
        )
    if current is None and tables - OUR_TABLES:
        kind = "an SQLite" if isinstance(path, Path) else "a"
        raise SchemaError(path, f"{kind} database of something else, not tierbuffer")
    if current == known.head:
        return False
    if not upgrade:
        raise SchemaError(
            path,
            f"schema at revision {current or 'none'}, this tierbuffer needs {known.head}; "
            f"run `tierbuffer --db {path} migrate`",
        )
    return True


def stored_revision(path: Path, busy_timeout_s: float) -> tuple[str | None, set[str]]:
    """`read_revision` of the database at `path`, on a read-only connection of its own."""
    connection = connect_read_only(path, busy_timeout_s=busy_timeout_s)
    try:
        return read_revision(connection)
    except sqlite3.Error as e:
        raise translate(path, e) from e
    finally:
        connection.close()


def checked_read_only(path: Path, busy_timeout_s: float) -> Path:
    """Check the file, then its schema revision on a read-only connection; the checked path."""
    path = checked_path(path, False, read_only=True)
    current, tables = stored_revision(path, busy_timeout_s)
    needs_upgrade(path, current, tables, revisions(), upgrade=False)
    return path


def at_head(path: Path, busy_timeout_s: float, *, upgrade: bool) -> bool:
    """True when the database at `path` is at the head revision, read without Alembic (a writer
    that opens its log then needs no migration, nor Alembic's import); False when it is to be
    brought there (missing, empty or behind, and `upgrade`). Raises `SchemaError` as
    `storage.migrate.ensure_schema` would."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    current, tables = stored_revision(path, busy_timeout_s)
    return not needs_upgrade(path, current, tables, revisions(), upgrade=upgrade)


def check_writable_log(path: Path, busy_timeout_s: float = 5.0) -> None:
    """Refuse, creating and writing nothing, a log a writer could not use: a bad file, one from a
    newer tierbuffer or another application, one it cannot write, or a missing one whose folder
    it could not create. (An older revision is fine: writers upgrade it.)"""
    path = path.expanduser().absolute()
    if path.is_dir():
        raise DatabaseError(path, "is a directory, not a database file")
    if not path.exists() or path.stat().st_size == 0:
        _check_creatable(path)
        return
    check_database_file(path, create=False)
    check_writable(path)
    current, tables = stored_revision(path, busy_timeout_s)
    needs_upgrade(path, current, tables, revisions(), upgrade=True)


def _check_creatable(path: Path) -> None:
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise DatabaseError(path, f"cannot create its folder: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ReadOnlyDatabaseError(path, f"cannot create it: {ancestor} is not writable")
