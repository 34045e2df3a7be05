"""The hash chain that makes the log verifiable: hash = sha256(prev_hash || canonical bytes).

`ChainWalk` is the one walk over the chain: verification, exports and replays that check what
they fold all go through it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Final

import msgspec

from storage.row import StoredRow

GENESIS: Final[str] = "0" * 64


def canonical_bytes(
    seq: int,
    event_id: str,
    event_type: str,
    version: int,
    occurred_at: int,
    recorded_at: int,
    payload: bytes,
) -> bytes:
    """Every stored column but the hash, unambiguously (unit separators, payload last)."""
    head = f"{seq}\x1f{event_id}\x1f{event_type}\x1f{version}\x1f{occurred_at}\x1f{recorded_at}\x1f"
    return head.encode() + payload


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    digest = hashlib.sha256(bytes.fromhex(prev_hash))
    digest.update(canonical)
    return digest.hexdigest()


def row_hash(prev_hash: str, row: StoredRow) -> str:
    canonical = canonical_bytes(
        row.seq, row.event_id, row.type, row.version, row.occurred_at, row.recorded_at, row.payload
    )
    return chain_hash(prev_hash, canonical)


class ChainBreak(msgspec.Struct, frozen=True):
    """The first place where the log stops verifying."""

    seq: int
    reason: str


class ChainWalk:
    """Walks rows from a known point of the chain (the genesis by default), passing on the rows
    that verify; at the first that does not, it stops and keeps why in `broken`."""

    def __init__(self, *, prev_hash: str = GENESIS, next_seq: int = 1) -> None:
        self.prev_hash = prev_hash
        self.next_seq = next_seq
        self.broken: ChainBreak | None = None

    def verified(self, rows: Iterable[StoredRow]) -> Iterator[StoredRow]:
        for row in rows:
            if row.seq != self.next_seq:
                reason = f"expected sequence {self.next_seq}, found {row.seq} (a row was removed?)"
                self.broken = ChainBreak(seq=self.next_seq, reason=reason)
                return
            if row_hash(self.prev_hash, row) != row.hash:
                reason = "hash does not match its content and predecessor (altered or reordered)"
                self.broken = ChainBreak(seq=row.seq, reason=reason)
                return
            yield row
            self.prev_hash = row.hash
            self.next_seq += 1

    def fail(self, seq: int, reason: str) -> None:
        """A row that hashes right but cannot be used (its payload does not decode)."""
        self.broken = ChainBreak(seq=seq, reason=reason)


def first_break(rows: Iterable[StoredRow]) -> ChainBreak | None:
    """Walk the chain from the first row; None when every row verifies."""
    walk = ChainWalk()
    for _ in walk.verified(rows):
        pass
    return walk.broken
