"""One service per database: an exclusive advisory lock on the database file itself.

The lock is a `flock` on the database file (created empty when missing, which is what opening a
new log does anyway), so it is keyed on the file's identity: a symlink or a hard link to the
same file, or another spelling of its path, meets the same lock, and there is no lock file to
delete behind the holder's back. `<db>.lock` only records the holder's pid, for the message.
The kernel releases the lock when its holder exits, even when it is killed, so a crashed
service never blocks the next start. (On Linux `flock` and SQLite's POSIX record locks do not
interact.)

A POSIX subtlety: closing *any* descriptor of the database file drops every POSIX record lock
this process holds on it, SQLite's included. The lock's descriptor is therefore closed only on
release, after the log is closed; a refused attempt keeps its descriptor open for the life of
the process instead of closing it under a log this process may have open.

On PostgreSQL (`AdvisoryServiceLock`) the lock is a session-level advisory lock held by a
connection of the service's own (`storage.pg_lock`): the server releases it when that session
ends, however the service ended.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import Final

from storage.errors import DatabaseError, StoreError
from storage.location import PgUrl

#: Descriptors of refused attempts, never closed (see the module's docstring).
_PARKED: Final[list[int]] = []


class ServiceLockedError(StoreError):
    """The database is in use by another service (a store error: the CLI reports it in one line)."""

    def __init__(self, path: Path | PgUrl, holder: str) -> None:
        if isinstance(path, PgUrl):
            who = f" ({holder})" if holder else ""
            where = f"advisory lock in {path}"
        else:
            who = f" (pid {holder})" if holder else ""
            where = f"lock file {path}"
        super().__init__(f"another tierbuffer service is running on this database{who}; {where}")
        self.path = path
        self.holder = holder


class ServiceLock:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        #: Where the holder's pid is written (information only: the lock is on the database).
        self.path = db_path.with_name(db_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:  # read-only is enough for flock: a read-only database is refused by the store
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.db_path, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError as e:
            raise DatabaseError(self.db_path, f"cannot open: {e.strerror or e}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            _PARKED.append(fd)
            raise ServiceLockedError(self.path, self._holder()) from e
        self._fd = fd
        try:
            self.path.write_text(f"{os.getpid()}\n", encoding="ascii")
        except OSError:  # the pid is only for messages
            pass

    def _holder(self) -> str:
        try:
            return self.path.read_text(encoding="ascii", errors="replace").strip()[:32]
        except OSError:
            return ""

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ServiceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class AdvisoryServiceLock:
    """One service per PostgreSQL log: `async with AdvisoryServiceLock(url):`."""

    def __init__(self, where: PgUrl) -> None:
        from storage.pg_lock import PgSessionLock

        self.where = where
        self._lock = PgSessionLock(where)

    async def __aenter__(self) -> AdvisoryServiceLock:
        holder = await self._lock.try_acquire()
        if holder is not None:
            raise ServiceLockedError(self.where, holder)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._lock.release()
