"""Our own storage errors. Driver errors are translated into these once, where they are raised."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from domain.errors import TierbufferError

if TYPE_CHECKING:
    from storage.pgurl import PgUrl


class StoreError(TierbufferError):
    """Base of every storage error; its message is one line meant for a person."""


class DatabaseError(StoreError):
    """The database (an SQLite file, or a PostgreSQL database: `path` is then its `PgUrl`,
    printed without its password) cannot be used."""

    def __init__(self, path: Path | str | PgUrl, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path: Path | PgUrl = Path(path) if isinstance(path, str) else path
        self.reason = reason


class NotADatabaseError(DatabaseError):
    """The file is not an SQLite database, or is damaged beyond use (truncated, malformed)."""


class ReadOnlyDatabaseError(DatabaseError):
    """The database (or its folder, which WAL needs) cannot be written."""


class MissingDatabaseError(DatabaseError):
    """No database where one was expected (only writing commands create one)."""


class InvalidLocationError(DatabaseError):
    """What was given as the database is neither a path nor a well-formed PostgreSQL URL."""


class UnreachableDatabaseError(DatabaseError):
    """The database server cannot be reached (refused, unknown host, timed out, went away)."""


class AccessDeniedError(DatabaseError):
    """The server refused the credentials, or the user lacks a privilege tierbuffer needs."""


class SchemaError(DatabaseError):
    """The database schema is not the one this version of tierbuffer works with."""


class DatabaseBusyError(DatabaseError):
    """Another process held the write lock longer than the busy timeout: nothing of the append
    was written; retrying later is safe (same event ids)."""


class DiskFullError(DatabaseError):
    """The disk holding the database (or its WAL) is full: nothing of the append was written;
    retrying once there is room is safe."""


class DatabaseReplacedError(DatabaseError):
    """The database file or its WAL was deleted or replaced while the store had it open: what
    is written now could not survive, so the store stops writing (every later append raises
    this) and nothing since the last acknowledged append was acknowledged. `what` names the
    file; `rescued`, when set, is a copy of the log as the store still saw it (every event it
    acknowledged). Reopening the store on the right file is the way out."""

    def __init__(
        self, path: Path | str, what: Path | str, reason: str, rescued: Path | None = None
    ) -> None:
        kept = f"; the log as it was is kept in {rescued}" if rescued is not None else ""
        super().__init__(path, f"{what} {reason} while in use; the store stopped writing{kept}")
        self.what = Path(what)
        self.rescued = rescued
        self.how = reason


class InvalidEventError(StoreError):
    """An event offered for appending is malformed; nothing of its batch was appended."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"event {index} of the batch: {reason}")
        self.index = index
        self.reason = reason


class StoreClosedError(StoreError):
    def __init__(self) -> None:
        super().__init__("the event store is closed")


class MalformedRowError(StoreError):
    """A stored row that tierbuffer cannot have written (a column of the wrong kind or size):
    the log was changed by another program. `verify` reports it as where the chain breaks."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"row {seq} of the log: {reason}; run `tierbuffer verify`")
        self.seq = seq
        self.reason = reason


class ChainBrokenError(StoreError):
    """An event about to be folded does not verify against the hash chain: nothing past the
    event before it was folded."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(
            f"the log fails verification at sequence {seq}: {reason}; nothing from it on was "
            "folded (`tierbuffer verify` tells more)"
        )
        self.seq = seq
        self.reason = reason
