"""What a service start checks before it creates anything (database, lock file, chunk folder).

- the database: usable by a writer (`storage.revisions.check_writable_log`), or creatable;
- the library folder: there and readable; or, if not, known to the log (an unmounted disk: the
  service starts and says so in an ERROR line); a folder that is missing and never held a track
  is a wrong path, refused;
- the chunk folder: there and writable, or creatable.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from adapters.errors import AdapterError
from adapters.library.paths import root_problem
from storage.revisions import check_writable_log


class PreflightError(AdapterError):
    """A service start refused before anything was created."""

    def __init__(self, path: Path, reason: str) -> None:
        """`reason` names `path` in its words."""
        super().__init__(reason)
        self.path = path
        self.reason = reason


async def check_log(db: Path) -> None:
    await anyio.to_thread.run_sync(check_writable_log, db)


async def check_library(library: Path, db: Path) -> None:
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


async def _log_knows_tracks(db: Path) -> bool:
    if not has_content(db):
        return False
    from storage.sqlite_log import open_sqlite_log

    async with open_sqlite_log(
        db, clock=lambda: 0, create=False, migrate=False, read_only=True
    ) as log:
        async for _ in log.events.read(types={"TrackAdded"}):
            return True
    return False


def check_cache_dir(path: Path) -> None:
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise PreflightError(path, f"chunk folder {path}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PreflightError(path, f"chunk folder {path}: {ancestor} is not writable")
