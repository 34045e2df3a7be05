"""The hash chain that makes the log verifiable: hash = sha256(prev_hash || canonical bytes)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

import msgspec

GENESIS: Final[str] = "0" * 64


class StoredRow(msgspec.Struct, frozen=True):
    """One row of the log exactly as stored: what the chain covers, plus the chain hash."""

    seq: int
    event_id: str
    type: str
    version: int
    occurred_at: int
    recorded_at: int
    payload: bytes
    hash: str


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


def first_break(rows: Iterable[StoredRow]) -> ChainBreak | None:
    """Walk the chain from the first row; None when every row verifies."""
    prev_hash = GENESIS
    expected_seq = 1
    for row in rows:
        if row.seq != expected_seq:
            reason = f"expected sequence {expected_seq}, found {row.seq} (a row was removed?)"
            return ChainBreak(seq=expected_seq, reason=reason)
        if row_hash(prev_hash, row) != row.hash:
            return ChainBreak(seq=row.seq, reason="hash does not match its content and predecessor")
        prev_hash = row.hash
        expected_seq += 1
    return None
