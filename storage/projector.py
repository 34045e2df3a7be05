"""Bringing the projection up to date: newest valid snapshot + tail, and end-to-end verification.

Bulk folding runs in a worker thread over the store's blocking iterator, so a long replay never
blocks the event loop.
"""

from __future__ import annotations

import anyio
import msgspec

from domain.errors import DomainError
from domain.projection import evolve, fold
from domain.state import PROJECTION_VERSION, State, decode_state, encode_state, hash_bytes
from storage.chain import GENESIS, ChainBreak, row_hash
from storage.eventstore import EventStore, to_recorded
from storage.snapshotstore import Snapshot, SnapshotStore


class SnapshotNote(msgspec.Struct, frozen=True):
    """A snapshot that was skipped, is stale, or does not match a replay, and why."""

    id: int
    seq: int
    reason: str


class Loaded(msgspec.Struct, frozen=True):
    state: State
    snapshot_seq: int | None
    replayed: int
    skipped: list[SnapshotNote]


def check_snapshot(snapshot: Snapshot, last_seq: int) -> State | str:
    """The snapshot's state, or why it cannot be used."""
    if snapshot.projection_version != PROJECTION_VERSION:
        return (
            f"written by projection v{snapshot.projection_version}, this is v{PROJECTION_VERSION}"
        )
    if hash_bytes(snapshot.state) != snapshot.state_hash:
        return "state bytes do not match the stored state hash"
    if snapshot.seq > last_seq:
        return f"taken at sequence {snapshot.seq}, beyond the end of the log ({last_seq})"
    try:
        state = decode_state(snapshot.state)
    except DomainError as e:
        return str(e)
    if state.seq != snapshot.seq:
        return f"state is at sequence {state.seq}, the row says {snapshot.seq}"
    return state


async def replay(events: EventStore, state: State | None = None) -> State:
    """Fold everything after `state` (the whole log from the empty state by default)."""
    start = State() if state is None else state
    return await anyio.to_thread.run_sync(
        lambda: fold(events.iter_recorded(after=start.seq), start)
    )


async def load_state(
    events: EventStore, snapshots: SnapshotStore, *, use_snapshots: bool = True
) -> Loaded:
    """Newest snapshot that verifies, plus the tail; skipped snapshots are reported, not fatal."""
    skipped: list[SnapshotNote] = []
    base: State | None = None
    if use_snapshots:
        last_seq = await events.last_seq()
        async for snapshot in snapshots.newest_first():
            checked = check_snapshot(snapshot, last_seq)
            if isinstance(checked, State):
                base = checked
                break
            skipped.append(SnapshotNote(snapshot.id, snapshot.seq, checked))
    state = await replay(events, base)
    start = 0 if base is None else base.seq
    return Loaded(state, None if base is None else base.seq, state.seq - start, skipped)


class VerifyReport(msgspec.Struct, frozen=True):
    events: int
    chain_break: ChainBreak | None
    snapshot_mismatches: list[SnapshotNote]
    stale_snapshots: list[SnapshotNote]
    state_hash: str

    @property
    def ok(self) -> bool:
        return self.chain_break is None and not self.snapshot_mismatches


async def verify(events: EventStore, snapshots: SnapshotStore) -> VerifyReport:
    """Check the hash chain end to end and that every snapshot equals a fresh replay."""
    wanted: dict[int, list[Snapshot]] = {}
    stale: list[SnapshotNote] = []
    async for snapshot in snapshots.newest_first():
        if snapshot.projection_version != PROJECTION_VERSION:
            reason = f"from projection v{snapshot.projection_version}; ignored at start"
            stale.append(SnapshotNote(snapshot.id, snapshot.seq, reason))
        else:
            wanted.setdefault(snapshot.seq, []).append(snapshot)
    return await anyio.to_thread.run_sync(_verify_sync, events, wanted, stale)


def _verify_sync(
    events: EventStore, wanted: dict[int, list[Snapshot]], stale: list[SnapshotNote]
) -> VerifyReport:
    mismatches: list[SnapshotNote] = []
    state = State()
    prev_hash, expected, count = GENESIS, 1, 0
    chain_break: ChainBreak | None = None
    for row in events.iter_rows():
        if row.seq != expected:
            reason = f"expected sequence {expected}, found {row.seq} (a row was removed?)"
            chain_break = ChainBreak(seq=expected, reason=reason)
            break
        if row_hash(prev_hash, row) != row.hash:
            reason = "hash does not match its content and predecessor (altered or reordered)"
            chain_break = ChainBreak(seq=row.seq, reason=reason)
            break
        try:
            recorded = to_recorded(events.codec, row)
        except DomainError as e:
            chain_break = ChainBreak(seq=row.seq, reason=str(e))
            break
        state = evolve(state, recorded)
        prev_hash, expected, count = row.hash, expected + 1, count + 1
        for snapshot in wanted.pop(row.seq, ()):
            if snapshot.state != encode_state(state):
                mismatches.append(
                    SnapshotNote(snapshot.id, snapshot.seq, "differs from a fresh replay")
                )
    for seq, rest in sorted(wanted.items()):
        for snapshot in rest:
            if chain_break is None:
                reason = "beyond the end of the log"
            else:
                reason = "not checked: the chain broke before it"
            mismatches.append(SnapshotNote(snapshot.id, seq, reason))
    return VerifyReport(count, chain_break, mismatches, stale, hash_bytes(encode_state(state)))
