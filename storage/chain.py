"""The hash chain that makes the log verifiable: hash = sha256(prev_hash ‖ canonical bytes).

Two formats of canonical bytes, told apart by each row's `chain` number (␟ is 0x1f):
- 1 (rows written before schema revision 0002): "seq␟event_id␟type␟version␟occurred_at␟
  recorded_at␟" ‖ payload;
- 2: "2␟seq␟recorded_at␟event_id␟type␟version␟occurred_at␟track␟" ‖ payload, where track is the
  track id as a JSON string, or `null`. Every column a reader uses is under it. Its order lets a
  writer build everything but "2␟seq␟recorded_at␟" before it takes the write lock.
`prev_hash` is the predecessor's 32-byte digest (32 zero bytes before the first row); the event
id is its lower-case hyphenated UUID text; numbers are decimal.

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
GENESIS_DIGEST: Final[bytes] = bytes(32)
CHAIN_FORMAT: Final[int] = 2

_json = msgspec.json.Encoder()


def canonical_bytes(
    seq: int,
    event_id: str,
    event_type: str,
    version: int,
    occurred_at: int,
    recorded_at: int,
    payload: bytes,
) -> bytes:
    """Format 1: every stored column but the hash and the track."""
    head = f"{seq}\x1f{event_id}\x1f{event_type}\x1f{version}\x1f{occurred_at}\x1f{recorded_at}\x1f"
    return head.encode() + payload


def event_part(
    event_id: str,
    event_type: str,
    version: int,
    occurred_at: int,
    track: str | None,
    payload: bytes,
) -> bytes:
    """Format 2, the part an event brings before it has a sequence number."""
    head = f"{event_id}\x1f{event_type}\x1f{version}\x1f{occurred_at}\x1f"
    return b"".join((head.encode(), _json.encode(track), b"\x1f", payload))


def link(prev: bytes, seq: int, recorded_at: int, part: bytes) -> bytes:
    """Format 2: the digest of the row at `seq` after the row whose digest is `prev`."""
    return hashlib.sha256(
        b"".join((prev, f"2\x1f{seq}\x1f{recorded_at}\x1f".encode(), part))
    ).digest()


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """Format 1, as hex."""
    digest = hashlib.sha256(bytes.fromhex(prev_hash))
    digest.update(canonical)
    return digest.hexdigest()


def row_digest(prev: bytes, row: StoredRow) -> bytes:
    """What `row.hash` must be, after the row whose digest is `prev` (either format)."""
    if row.chain == 1:
        canonical = canonical_bytes(
            row.seq,
            row.event_id,
            row.type,
            row.version,
            row.occurred_at,
            row.recorded_at,
            row.payload,
        )
        return hashlib.sha256(prev + canonical).digest()
    part = event_part(row.event_id, row.type, row.version, row.occurred_at, row.track, row.payload)
    return link(prev, row.seq, row.recorded_at, part)


def row_hash(prev_hash: str, row: StoredRow) -> str:
    return row_digest(bytes.fromhex(prev_hash), row).hex()


class ChainBreak(msgspec.Struct, frozen=True):
    """The first place where the log stops verifying."""

    seq: int
    reason: str


class ChainWalk:
    """Walks rows from a known point of the chain (the genesis by default), passing on the rows
    that verify; at the first that does not, it stops and keeps why in `broken`."""

    def __init__(self, *, prev_hash: str = GENESIS, next_seq: int = 1) -> None:
        self.prev = bytes.fromhex(prev_hash)
        self.next_seq = next_seq
        self.broken: ChainBreak | None = None

    @property
    def prev_hash(self) -> str:
        return self.prev.hex()

    def verified(self, rows: Iterable[StoredRow]) -> Iterator[StoredRow]:
        """The rows that verify, up to the first that does not."""
        for row in rows:
            if not self.accept(row):
                return
            yield row

    def accept(self, row: StoredRow) -> bool:
        """Whether `row` verifies as the next row; if not, the walk is broken there."""
        if self.broken is not None:
            return False
        reason = self._check(row)
        if reason is not None:
            self.broken = ChainBreak(seq=min(row.seq, self.next_seq), reason=reason)
            return False
        self.prev = bytes.fromhex(row.hash)
        self.next_seq += 1
        return True

    def _check(self, row: StoredRow) -> str | None:
        if row.seq != self.next_seq:
            return f"expected sequence {self.next_seq}, found {row.seq} (a row was removed?)"
        if row.chain not in (1, CHAIN_FORMAT):
            return f"unknown chain format {row.chain!r}"
        if row_digest(self.prev, row).hex() != row.hash:
            return "hash does not match its content and predecessor (altered or reordered)"
        return None

    def fail(self, seq: int, reason: str) -> None:
        """A row that hashes right but cannot be used (its payload does not decode)."""
        self.broken = ChainBreak(seq=seq, reason=reason)


def first_break(rows: Iterable[StoredRow]) -> ChainBreak | None:
    """Walk the chain from the first row; None when every row verifies."""
    walk = ChainWalk()
    for _ in walk.verified(rows):
        pass
    return walk.broken
