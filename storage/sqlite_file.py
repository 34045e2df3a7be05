"""The database file: checks before SQLite touches it, connections, and driver errors.

A file that is not SQLite, or is visibly truncated, is refused here, before a connection could
write a journal or WAL file beside it; so is one to be written that this process cannot write
(SQLite would open it read-only, create its -wal/-shm files, fail at the first write and leave
them). `connect` opens a connection in WAL mode with the chosen `synchronous` level and checks
both took effect; `connect_read_only` opens one that cannot write and leaves no file behind.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Final, Literal

from storage.errors import (
    DatabaseBusyError,
    DatabaseError,
    DatabaseReplacedError,
    DiskFullError,
    MissingDatabaseError,
    NotADatabaseError,
    ReadOnlyDatabaseError,
    StoreError,
)

_MAGIC = b"SQLite format 3\x00"
Synchronous = Literal["NORMAL", "FULL"]
_SYNC_LEVELS = {"NORMAL": 1, "FULL": 2}


def check_database_file(path: Path, *, create: bool) -> None:
    """Refuse paths that cannot hold our database; create the parent folder when asked to."""
    if path.is_dir():
        raise DatabaseError(path, "is a directory, not a database file")
    if not path.exists():
        if not create:
            raise MissingDatabaseError(path, "no database here (ingest, serve or demo create one)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DatabaseError(path, f"cannot create its folder: {e.strerror}") from e
        if not os.access(path.parent, os.W_OK):
            raise ReadOnlyDatabaseError(path, "its folder is not writable")
        return
    try:
        with path.open("rb") as f:
            header = f.read(100)
        size = path.stat().st_size
    except OSError as e:
        raise DatabaseError(path, f"cannot read: {e.strerror}") from e
    if size == 0:
        if not create:
            raise MissingDatabaseError(path, "the database file is empty")
        return
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise NotADatabaseError(path, "not an SQLite database (wrong header); nothing was written")
    _check_not_truncated(path, header, size)


def _check_not_truncated(path: Path, header: bytes, size: int) -> None:
    page_size = int.from_bytes(header[16:18], "big")
    if page_size == 1:
        page_size = 65536
    pages = int.from_bytes(header[28:32], "big")
    change_counter = header[24:28]
    valid_for = header[92:96]
    if pages and change_counter == valid_for and size < pages * page_size:
        raise NotADatabaseError(
            path,
            f"truncated: {size} bytes on disk, its header says {pages * page_size}; "
            "nothing was written",
        )


#: SQLite's primary result codes we tell apart (an extended code's low byte is its primary).
SQLITE_BUSY: Final = 5
SQLITE_LOCKED: Final = 6
SQLITE_READONLY: Final = 8
SQLITE_CORRUPT: Final = 11
SQLITE_FULL: Final = 13
SQLITE_CANTOPEN: Final = 14
SQLITE_NOTADB: Final = 26
BUSY_CODES: Final = frozenset({SQLITE_BUSY, SQLITE_LOCKED})


def primary_code(error: BaseException) -> int | None:
    """SQLite's primary result code of a driver error (None: not an SQLite error)."""
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def translate(path: Path, error: BaseException) -> StoreError:
    """Our error for a driver error (sqlite3 or SQLAlchemy wrapping sqlite3), by its result
    code (`sqlite3.Error.sqlite_errorcode`), never by its message text."""
    original = getattr(error, "orig", None) or error
    code = primary_code(original)
    message = str(original)
    if code == SQLITE_READONLY:
        return ReadOnlyDatabaseError(path, "cannot write: the database or its folder is read-only")
    if code in (SQLITE_NOTADB, SQLITE_CORRUPT):
        return NotADatabaseError(path, f"damaged database ({message}); nothing was written")
    if code in BUSY_CODES:
        return DatabaseBusyError(path, "another process holds the write lock; try again")
    if code == SQLITE_FULL:
        return DiskFullError(path, "the disk is full; nothing was written")
    if code == SQLITE_CANTOPEN:
        return DatabaseError(path, "cannot open the database file")
    if isinstance(original, sqlite3.Error):
        name = getattr(original, "sqlite_errorname", None)
        return DatabaseError(path, f"{message} ({name})" if name else message)
    return DatabaseError(path, f"{type(original).__name__}: {message}")


def _enable_wal(connection: sqlite3.Connection, busy_timeout_s: float) -> str:
    """Switch to WAL, retrying while another connection holds a lock, until the busy timeout.

    SQLite does not call the busy handler for this switch (it could deadlock), so processes
    starting together on a new file would otherwise fail at once with "database is locked".
    """
    deadline = time.monotonic() + busy_timeout_s
    delay = 0.001
    while True:
        try:
            return str(connection.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        except sqlite3.OperationalError as e:
            busy = primary_code(e) in BUSY_CODES
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def connect(path: Path, *, busy_timeout_s: float, synchronous: Synchronous) -> sqlite3.Connection:
    """A connection in autocommit mode (we issue BEGIN ourselves), WAL, busy timeout set."""
    try:
        connection = sqlite3.connect(
            str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        mode = _enable_wal(connection, busy_timeout_s)
        if str(mode).lower() != "wal":
            connection.close()
            raise DatabaseError(path, f"cannot switch to WAL journal mode (got {mode})")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        connection.execute("PRAGMA wal_autocheckpoint=0")  # storage.checkpoint does it
        level = connection.execute("PRAGMA synchronous").fetchone()[0]
        if level != _SYNC_LEVELS[synchronous]:
            connection.close()
            raise DatabaseError(path, f"synchronous={synchronous} did not take (got {level})")
    except sqlite3.Error as e:
        raise translate(path, e) from e
    return connection


def check_writable(path: Path) -> None:
    """Refuse an existing database this process may read but not write, before SQLite opens it."""
    if not os.access(path, os.W_OK):
        raise ReadOnlyDatabaseError(path, "cannot write: the database file is read-only")
    if not os.access(path.parent, os.W_OK):
        raise ReadOnlyDatabaseError(
            path, "cannot write: its folder is read-only (SQLite keeps its WAL beside it)"
        )


def checked_path(path: Path, create: bool, *, read_only: bool = False) -> Path:
    path = path.expanduser().absolute()
    check_database_file(path, create=create and not read_only)
    if not read_only and path.exists() and path.stat().st_size > 0:
        check_writable(path)
    return path


class FileIdentity:
    """Which file a path names (device and inode): a file deleted, or replaced by another under
    the same name, no longer has the identity it had when the store opened it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._id = _identity(path)

    def check(self, store_path: Path) -> os.stat_result:
        """The file's stat; DatabaseReplacedError when it is gone or another file."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError as e:
            raise DatabaseReplacedError(store_path, self.path, "was deleted") from e
        if (stat.st_dev, stat.st_ino) != self._id:
            raise DatabaseReplacedError(store_path, self.path, "was replaced by another file")
        return stat


def _identity(path: Path) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _read_only_uri(path: Path) -> str:
    """How to open `path` so that nothing is written and no file is left behind.

    - file and folder writable: an ordinary connection, made read-only by `query_only`: SQLite
      removes the -wal/-shm files it creates when the last connection closes;
    - otherwise, with a -wal file present (a service has the log open, or was killed): `mode=ro`
      reads through it;
    - otherwise nothing is pending in a WAL and a read-only connection could not remove the
      files it would create: `immutable=1` reads the file as it is, creating nothing.
    """
    uri = path.as_uri()
    if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
        return f"{uri}?mode=rw"
    if path.with_name(path.name + "-wal").exists():
        return f"{uri}?mode=ro"
    return f"{uri}?mode=ro&immutable=1"


def connect_read_only(path: Path, *, busy_timeout_s: float) -> sqlite3.Connection:
    """A connection that cannot write to the database and leaves no -wal/-shm behind."""
    try:
        connection = sqlite3.connect(
            _read_only_uri(path),
            uri=True,
            timeout=busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
        )
        connection.execute("PRAGMA query_only=1")
    except sqlite3.Error as e:
        raise translate(path, e) from e
    return connection
