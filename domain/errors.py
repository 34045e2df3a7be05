"""Errors raised by the pure core. Each carries its data and builds its message in `__init__`."""

from __future__ import annotations


class DomainError(Exception):
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
