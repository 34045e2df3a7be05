"""The opened log: the event store and its snapshot store, typed by their ports.

Whoever opens a log (the composition root, `adapters/bootstrap.py`) chooses the implementations;
everything that uses one (the runtime, the audit tools) sees only the ports, so it runs as well
on the in-memory fakes as on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from domain.state import State
from storage.eventstore import EventStore
from storage.snapshotstore import SnapshotStore

SNAPSHOTS_KEPT: Final = 3


@dataclass(frozen=True, slots=True)
class Log:
    events: EventStore
    snapshots: SnapshotStore


async def snapshot_if_due(log: Log, state: State, *, every: int, clock: Callable[[], int]) -> bool:
    """Write a snapshot when `every` events or more were folded since the newest one."""
    latest = await log.snapshots.latest_seq() or 0
    if every <= 0 or state.seq - latest < every:
        return False
    await log.snapshots.save(state, created_at=clock())
    await log.snapshots.prune(keep=SNAPSHOTS_KEPT)
    return True
