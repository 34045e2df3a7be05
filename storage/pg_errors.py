"""PostgreSQL driver errors (psycopg 3, or SQLAlchemy wrapping it) as our `StoreError`s, by the
error's class and its SQLSTATE code, never by its message text.

A connection that cannot be made carries no SQLSTATE (libpq keeps none for it, whether the host
refused it, the password was wrong or the database is missing): psycopg raises `OperationalError`,
classified by that class as `UnreachableDatabaseError` ("cannot connect"), or as
`AccessDeniedError` when libpq says the server wanted a password and got none. The server's own
words appear only as the detail of the message, cut to one line, never to classify.
"""

from __future__ import annotations

from typing import Final

import psycopg

from storage.errors import (
    AccessDeniedError,
    DatabaseBusyError,
    DatabaseError,
    DiskFullError,
    MissingDatabaseError,
    ReadOnlyDatabaseError,
    StoreError,
    UnreachableDatabaseError,
)
from storage.location import PgUrl

#: SQLSTATE codes we tell apart (https://www.postgresql.org/docs/current/errcodes-appendix.html).
INVALID_PASSWORD: Final = "28P01"
INVALID_AUTHORIZATION: Final = "28000"
INVALID_CATALOG_NAME: Final = "3D000"
INSUFFICIENT_PRIVILEGE: Final = "42501"
READ_ONLY_TRANSACTION: Final = "25006"
DISK_FULL: Final = "53100"
LOCK_NOT_AVAILABLE: Final = "55P03"
QUERY_CANCELED: Final = "57014"
SERIALIZATION_FAILURE: Final = "40001"
DEADLOCK_DETECTED: Final = "40P01"
UNIQUE_VIOLATION: Final = "23505"
#: Classes (the first two characters): connection exceptions, the server shutting down.
CONNECTION_CLASSES: Final = frozenset({"08", "57"})
BUSY_CODES: Final = frozenset(
    {LOCK_NOT_AVAILABLE, QUERY_CANCELED, SERIALIZATION_FAILURE, DEADLOCK_DETECTED}
)


def sqlstate(error: BaseException) -> str | None:
    original = getattr(error, "orig", None) or error
    code = getattr(original, "sqlstate", None)
    return code if isinstance(code, str) else None


def _detail(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def translate(where: PgUrl, error: BaseException) -> StoreError:
    """Our error for a driver error, by SQLSTATE (else by the driver's error class)."""
    original = getattr(error, "orig", None) or error
    code = sqlstate(original)
    if code in (INVALID_PASSWORD, INVALID_AUTHORIZATION):
        return AccessDeniedError(where, "the server refused the user name or password")
    if code == INVALID_CATALOG_NAME:
        return MissingDatabaseError(
            where, f"no database {where.database!r} on the server (create it: createdb)"
        )
    if code == INSUFFICIENT_PRIVILEGE:
        return AccessDeniedError(where, f"permission denied ({_detail(original)})")
    if code == READ_ONLY_TRANSACTION:
        return ReadOnlyDatabaseError(where, "the server accepts no writes (a standby?)")
    if code == DISK_FULL:
        return DiskFullError(where, "the server's disk is full; nothing was written")
    if code in BUSY_CODES:
        return DatabaseBusyError(where, "another process holds the write lock; try again")
    if code is None and isinstance(original, psycopg.OperationalError):
        pgconn = getattr(original, "pgconn", None)
        if pgconn is not None and pgconn.needs_password:
            return AccessDeniedError(where, "the server wants a password and none was given")
        return UnreachableDatabaseError(where, f"cannot connect: {_detail(original)}")
    if code is not None and code[:2] in CONNECTION_CLASSES:
        return UnreachableDatabaseError(where, f"lost the server: {_detail(original)}")
    return DatabaseError(where, f"{type(original).__name__}: {_detail(original)}")
