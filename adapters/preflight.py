"""What a service start checks before it creates anything (database, lock file, chunk folder).

- the database: usable by a writer (`storage.revisions.check_writable_log`), or creatable; on
  PostgreSQL, reachable with these credentials and holding tierbuffer's tables or none
  (`storage.migrate.schema_revision`);
- the library folder: there and readable; or, if not, known to the log (an unmounted disk: the
  service starts and says so in an ERROR line); a folder that is missing and never held a track
  is a wrong path, refused;
- the chunk folder: there and writable, or creatable.
"""

from __future__ import annotations

import os
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from adapters.errors import AdapterError
from adapters.library.paths import root_problem
from storage.location import Location, PgUrl
from storage.revisions import check_writable_log

if TYPE_CHECKING:
    from storage.log import Log


class PreflightError(AdapterError):
    """A service start refused before anything was created."""

    def __init__(self, path: Path, reason: str) -> None:
        """`reason` names `path` in its words."""
        super().__init__(reason)
        self.path = path
        self.reason = reason


async def check_log(db: Location) -> None:
    if isinstance(db, PgUrl):
        from storage.migrate import schema_revision

        await schema_revision(db)
        return
    await anyio.to_thread.run_sync(check_writable_log, db)


async def check_library(library: Path, db: Location) -> None:
    problem = await anyio.to_thread.run_sync(root_problem, library)
    if problem is None or await _log_knows_tracks(db):
        return
    raise PreflightError(
        library,
        f"library folder {library} {problem}, and the log {db} has never held a track: "
        "check the path",
    )


def has_content(path: Path) -> bool:
    """A database file that is there and not empty (a quick stat: no need for a thread)."""
    return path.is_file() and path.stat().st_size > 0


async def log_has_content(db: Location) -> bool:
    """A log that may hold events: a database file with content, or a PostgreSQL database
    holding tierbuffer's tables."""
    if isinstance(db, PgUrl):
        from storage.migrate import schema_revision

        return await schema_revision(db) is not None
    return has_content(db)


async def _log_knows_tracks(db: Location) -> bool:
    if not await log_has_content(db):
        return False
    async with _read_only_log(db) as log:
        async for _ in log.events.read(types={"TrackAdded"}):
            return True
    return False


def _read_only_log(db: Location) -> AbstractAsyncContextManager[Log]:
    if isinstance(db, PgUrl):
        from storage.pg_log import open_pg_log

        return open_pg_log(db, clock=lambda: 0, migrate=False)
    from storage.sqlite_log import open_sqlite_log

    return open_sqlite_log(db, clock=lambda: 0, create=False, migrate=False, read_only=True)


def check_cache_dir(path: Path) -> None:
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise PreflightError(path, f"chunk folder {path}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PreflightError(path, f"chunk folder {path}: {ancestor} is not writable")
