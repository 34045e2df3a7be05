"""The snapshot store port: snapshots of the projected state (bytes, sequence number, state hash,
projection version) and `chain_hash`, the hash of the log's event at the snapshot's sequence
number, which binds it to the chain: a snapshot whose chain hash is not the log's (the log was
rewritten or cut short before it, or the snapshot came from another log) is not used
(`storage.projector`). And the in-memory fake. No SQL here, so reading commands import no driver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import msgspec

from domain.state import PROJECTION_VERSION, State, encode_state, hash_bytes
from storage.eventstore import EventStore


class Snapshot(msgspec.Struct, frozen=True):
    id: int
    seq: int
    projection_version: int
    state_hash: str
    state: bytes
    created_at: int
    chain_hash: str | None = None


class SnapshotStore(Protocol):
    async def save(self, state: State, *, created_at: int, chain_hash: str | None = None) -> None:
        """Keep `state`, bound to the chain hash of the event at `state.seq` (looked up in the
        log by the stores that share its database when not given)."""
        ...

    def newest_first(self) -> AsyncIterator[Snapshot]: ...

    async def latest_seq(self) -> int | None: ...

    async def prune(self, *, keep: int) -> int: ...

    async def aclose(self) -> None: ...


def new_snapshot(
    state: State, created_at: int, chain_hash: str | None, snapshot_id: int = 0
) -> Snapshot:
    data = encode_state(state)
    return Snapshot(
        snapshot_id, state.seq, PROJECTION_VERSION, hash_bytes(data), data, created_at, chain_hash
    )


class InMemorySnapshotStore:
    def __init__(self, events: EventStore | None = None) -> None:
        self.rows: list[Snapshot] = []
        self._events = events

    async def save(self, state: State, *, created_at: int, chain_hash: str | None = None) -> None:
        if chain_hash is None and self._events is not None:
            chain_hash = self._events.hash_at(state.seq)
        self.rows.append(new_snapshot(state, created_at, chain_hash, len(self.rows) + 1))

    async def newest_first(self) -> AsyncIterator[Snapshot]:
        for row in sorted(self.rows, key=lambda r: (r.seq, r.id), reverse=True):
            yield row

    async def latest_seq(self) -> int | None:
        return max((r.seq for r in self.rows), default=None)

    async def prune(self, *, keep: int) -> int:
        ordered = sorted(self.rows, key=lambda r: (r.seq, r.id), reverse=True)
        self.rows = ordered[:keep]
        return len(ordered) - len(self.rows)

    async def aclose(self) -> None:
        return None
