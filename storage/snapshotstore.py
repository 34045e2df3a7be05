"""The snapshot store port: snapshots of the projected state (bytes, sequence number, state hash,
projection version), and the in-memory fake. No SQL here, so reading commands import no driver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import msgspec

from domain.state import PROJECTION_VERSION, State, encode_state, hash_bytes


class Snapshot(msgspec.Struct, frozen=True):
    id: int
    seq: int
    projection_version: int
    state_hash: str
    state: bytes
    created_at: int


class SnapshotStore(Protocol):
    async def save(self, state: State, *, created_at: int) -> None: ...

    def newest_first(self) -> AsyncIterator[Snapshot]: ...

    async def latest_seq(self) -> int | None: ...

    async def prune(self, *, keep: int) -> int: ...

    async def aclose(self) -> None: ...


def new_snapshot(state: State, created_at: int, snapshot_id: int = 0) -> Snapshot:
    data = encode_state(state)
    return Snapshot(snapshot_id, state.seq, PROJECTION_VERSION, hash_bytes(data), data, created_at)


class InMemorySnapshotStore:
    def __init__(self) -> None:
        self.rows: list[Snapshot] = []

    async def save(self, state: State, *, created_at: int) -> None:
        self.rows.append(new_snapshot(state, created_at, len(self.rows) + 1))

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
