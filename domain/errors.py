"""Errors raised by the pure core. Each carries its data and builds its message in `__init__`.

`TierbufferError` is the root of every error tierbuffer raises on purpose (one line for the
user, never a bug): each layer has its base under it — `DomainError` here, `StoreError` in
storage, `AudioError`, `IngestError`, `ApiError`, ... in the adapters — so an entrypoint catches
one type.
"""

from __future__ import annotations


class TierbufferError(Exception):
    """Root of tierbuffer's own errors: a message meant for the person who ran it."""


class DomainError(TierbufferError):
    """Base of every error the domain raises."""


class EventDecodeError(DomainError):
    """A stored payload could not be turned back into a domain event."""

    def __init__(self, event_type: str, version: int, reason: str) -> None:
        super().__init__(f"cannot decode {event_type} v{version}: {reason}")
        self.event_type = event_type
        self.version = version
        self.reason = reason


class SnapshotDecodeError(DomainError):
    """Snapshot bytes do not decode to a state of this projection."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot decode snapshot: {reason}")
        self.reason = reason
