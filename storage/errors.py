"""Our own storage errors. Driver errors are translated into these once, where they are raised."""

from __future__ import annotations

from pathlib import Path

from domain.errors import TierbufferError


class StoreError(TierbufferError):
    """Base of every storage error; its message is one line meant for a person."""


class DatabaseError(StoreError):
    """The database file cannot be used."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


class NotADatabaseError(DatabaseError):
    """The file is not an SQLite database, or is damaged beyond use (truncated, malformed)."""


class ReadOnlyDatabaseError(DatabaseError):
    """The database (or its folder, which WAL needs) cannot be written."""


class MissingDatabaseError(DatabaseError):
    """No database where one was expected (only writing commands create one)."""


class SchemaError(DatabaseError):
    """The database schema is not the one this version of tierbuffer works with."""


class DatabaseBusyError(DatabaseError):
    """Another process held the write lock longer than the busy timeout."""


class InvalidEventError(StoreError):
    """An event offered for appending is malformed; nothing of its batch was appended."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"event {index} of the batch: {reason}")
        self.index = index
        self.reason = reason


class StoreClosedError(StoreError):
    def __init__(self) -> None:
        super().__init__("the event store is closed")
