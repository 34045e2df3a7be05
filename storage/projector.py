"""Bringing the projection up to date: newest valid snapshot + tail, and end-to-end verification.

Bulk folding runs in a worker thread over the store's blocking iterator, so a long replay never
blocks the event loop.
"""

from __future__ import annotations

import anyio
import msgspec

from domain.errors import DomainError
from domain.events import Recorded, track_of
from domain.projection import evolve, fold
from domain.state import PROJECTION_VERSION, State, decode_state, encode_state, hash_bytes
from storage.chain import ChainBreak, ChainWalk
from storage.errors import MalformedRowError
from storage.eventstore import TRACK_MISMATCH, EventStore, to_recorded
from storage.row import StoredRow
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


def check_snapshot(snapshot: Snapshot, last_seq: int, chain_hash: str | None) -> State | str:
    """The snapshot's state, or why it cannot be used; `chain_hash` is the log's hash of the
    event at the snapshot's sequence number (None: the log has no such event)."""
    if snapshot.projection_version != PROJECTION_VERSION:
        return (
            f"written by projection v{snapshot.projection_version}, this is v{PROJECTION_VERSION}"
        )
    if hash_bytes(snapshot.state) != snapshot.state_hash:
        return "state bytes do not match the stored state hash"
    if snapshot.seq > last_seq or chain_hash is None:
        return f"taken at sequence {snapshot.seq}, beyond the end of the log ({last_seq})"
    if snapshot.chain_hash is None:
        return "not bound to the chain (written before schema revision 0002)"
    if snapshot.chain_hash != chain_hash:
        return f"bound to another chain: the log's event {snapshot.seq} has another hash"
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
            bound = await anyio.to_thread.run_sync(events.hash_at, snapshot.seq)
            checked = check_snapshot(snapshot, last_seq, bound)
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
        elif snapshot.chain_hash is None:
            reason = "not bound to the chain (written before schema revision 0002); ignored"
            stale.append(SnapshotNote(snapshot.id, snapshot.seq, reason))
        else:
            wanted.setdefault(snapshot.seq, []).append(snapshot)
    return await anyio.to_thread.run_sync(_verify_sync, events, wanted, stale)


def _verify_sync(
    events: EventStore, wanted: dict[int, list[Snapshot]], stale: list[SnapshotNote]
) -> VerifyReport:
    mismatches: list[SnapshotNote] = []
    state = State()
    walk = ChainWalk()
    try:
        for row in walk.verified(events.iter_rows()):
            recorded = _usable(walk, events, row)
            if recorded is None:
                break
            state = evolve(state, recorded)
            for snapshot in wanted.pop(row.seq, ()):
                reason = _snapshot_mismatch(snapshot, state, row.hash)
                if reason is not None:
                    mismatches.append(SnapshotNote(snapshot.id, snapshot.seq, reason))
    except MalformedRowError as e:
        walk.fail(e.seq, e.reason)
    chain_break = walk.broken
    for seq, rest in sorted(wanted.items()):
        for snapshot in rest:
            if chain_break is None:
                reason = "beyond the end of the log"
            else:
                reason = "not checked: the chain broke before it"
            mismatches.append(SnapshotNote(snapshot.id, seq, reason))
    return VerifyReport(state.seq, chain_break, mismatches, stale, hash_bytes(encode_state(state)))


def _usable(walk: ChainWalk, events: EventStore, row: StoredRow) -> Recorded | None:
    """The row's event, or None (and the walk failed there) when it does not decode or its
    track column is not its event's."""
    try:
        recorded = to_recorded(events.codec, row)
    except DomainError as e:
        walk.fail(row.seq, str(e))
        return None
    if track_of(recorded.event) != row.track:
        walk.fail(row.seq, TRACK_MISMATCH)
        return None
    return recorded


def _snapshot_mismatch(snapshot: Snapshot, state: State, chain_hash: str) -> str | None:
    if snapshot.state != encode_state(state):
        return "differs from a fresh replay"
    if snapshot.chain_hash != chain_hash:
        return "is not bound to the chain hash of its event"
    return None
