"""The hash chain that makes the log verifiable: hash = sha256(prev_hash ‖ canonical bytes).

Two formats of canonical bytes, told apart by each row's `chain` number (␟ is 0x1f):
- 1 (rows written before schema revision 0002): "seq␟event_id␟type␟version␟occurred_at␟
  recorded_at␟" ‖ payload;
- 2: "2␟seq␟recorded_at␟event_id␟type␟version␟occurred_at␟track␟" ‖ payload, where the event id
  is its 32 lower-case hex digits (the UUID without hyphens) and track the track id as a JSON
  string, or `null`. Every column a reader uses is under it. Its order lets a writer build
  everything but "2␟seq␟recorded_at␟" before it takes the write lock.
`prev_hash` is the predecessor's 32-byte digest (32 zero bytes before the first row); in format 1
the event id is its lower-case hyphenated UUID text; numbers are decimal.

`ChainWalk` is the one walk over the chain: verification, exports and replays that check what
they fold all go through it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Final

import msgspec

from storage.errors import MalformedRowError
from storage.row import StoredRow

GENESIS: Final[str] = "0" * 64
GENESIS_DIGEST: Final[bytes] = bytes(32)
CHAIN_FORMAT: Final[int] = 2

_json = msgspec.json.Encoder()
_sha256 = hashlib.sha256


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


#: Format 2's event part: id_hex, type, version, occurred_at, track (JSON), payload, as bytes.
EVENT_PART: Final[bytes] = b"%s\x1f%s\x1f%d\x1f%d\x1f%s\x1f%s"


def track_json(track: str | None) -> bytes:
    """The track as format 2 writes it: a JSON string, or `null`."""
    return b"null" if track is None else _json.encode(track)


def event_part(
    id_hex: str,
    event_type: str,
    version: int,
    occurred_at: int,
    track: str | None,
    payload: bytes,
) -> bytes:
    """Format 2, the part an event brings before it has a sequence number."""
    return EVENT_PART % (
        id_hex.encode(),
        event_type.encode(),
        version,
        occurred_at,
        track_json(track),
        payload,
    )


#: Format 2's whole input, `link` and `event_part` in one: prev, seq, recorded_at, id_hex, type,
#: version, occurred_at, track, payload.
_FORMAT_2: Final[bytes] = b"%s2\x1f%d\x1f%d\x1f%s\x1f%s\x1f%d\x1f%d\x1f%s\x1f%s"


def link(prev: bytes, seq: int, recorded_at: int, part: bytes) -> bytes:
    """Format 2: the digest of the row at `seq` after the row whose digest is `prev`."""
    return _sha256(b"%s2\x1f%d\x1f%d\x1f%s" % (prev, seq, recorded_at, part)).digest()


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """Format 1, as hex."""
    digest = hashlib.sha256(bytes.fromhex(prev_hash))
    digest.update(canonical)
    return digest.hexdigest()


def digest_of(
    prev: bytes,
    seq: int,
    id_hex: str,
    event_type: str,
    version: int,
    occurred_at: int,
    recorded_at: int,
    track: str | None,
    payload: bytes,
    chain: int,
) -> bytes:
    """What the hash of a row with these columns must be, after the row whose digest is `prev`."""
    if chain == CHAIN_FORMAT:
        part = event_part(id_hex, event_type, version, occurred_at, track, payload)
        return link(prev, seq, recorded_at, part)
    event_id = f"{id_hex[:8]}-{id_hex[8:12]}-{id_hex[12:16]}-{id_hex[16:20]}-{id_hex[20:]}"
    canonical = canonical_bytes(
        seq, event_id, event_type, version, occurred_at, recorded_at, payload
    )
    return hashlib.sha256(prev + canonical).digest()


def row_digest(prev: bytes, row: StoredRow) -> bytes:
    """What `row.hash` must be, after the row whose digest is `prev` (either format)."""
    return digest_of(
        prev,
        row.seq,
        row.event_id.replace("-", ""),
        row.type,
        row.version,
        row.occurred_at,
        row.recorded_at,
        row.track,
        row.payload,
        row.chain,
    )


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
        try:
            digest = bytes.fromhex(row.hash)
        except ValueError:
            digest = b""
        return self.step(
            row.seq,
            row.event_id.replace("-", ""),
            row.type,
            row.version,
            row.occurred_at,
            row.recorded_at,
            row.track,
            row.payload,
            digest,
            row.chain,
        )

    def step(
        self,
        seq: int,
        id_hex: str,
        event_type: str,
        version: int,
        occurred_at: int,
        recorded_at: int,
        track: str | None,
        payload: bytes,
        digest: bytes,
        chain: int,
    ) -> bool:
        """`accept` on a row's values as stored (the hash as its digest): the replay's path."""
        if self.broken is not None:
            return False
        if seq != self.next_seq:
            reason = f"expected sequence {self.next_seq}, found {seq} (a row was removed?)"
            self.broken = ChainBreak(seq=min(seq, self.next_seq), reason=reason)
            return False
        if chain != CHAIN_FORMAT and chain != 1:
            self.broken = ChainBreak(seq=seq, reason=f"unknown chain format {chain!r}")
            return False
        if chain == CHAIN_FORMAT:  # the replay's hot path: `digest_of` without its dispatch
            part = event_part(id_hex, event_type, version, occurred_at, track, payload)
            expected = link(self.prev, seq, recorded_at, part)
        else:
            expected = digest_of(
                self.prev,
                seq,
                id_hex,
                event_type,
                version,
                occurred_at,
                recorded_at,
                track,
                payload,
                chain,
            )
        if expected != digest:
            reason = "hash does not match its content and predecessor (altered or reordered)"
            self.broken = ChainBreak(seq=seq, reason=reason)
            return False
        self.prev = digest
        self.next_seq += 1
        return True

    def step_current(
        self,
        seq: int,
        id_hex: bytes,
        event_type: bytes,
        version: int,
        occurred_at: int,
        recorded_at: int,
        track: str | None,
        payload: bytes,
        digest: bytes,
    ) -> bool:
        """`step` on a row of the current format whose id and type are already bytes: the
        replay's hot path, one formatting and one SHA-256; anything amiss goes through `step`,
        which says why."""
        if seq == self.next_seq and self.broken is None:
            expected = _sha256(
                _FORMAT_2
                % (
                    self.prev,
                    seq,
                    recorded_at,
                    id_hex,
                    event_type,
                    version,
                    occurred_at,
                    b"null" if track is None else _json.encode(track),
                    payload,
                )
            ).digest()
            if expected == digest:
                self.prev = digest
                self.next_seq = seq + 1
                return True
        return self.step(
            seq,
            id_hex.decode(),
            event_type.decode(),
            version,
            occurred_at,
            recorded_at,
            track,
            payload,
            digest,
            CHAIN_FORMAT,
        )

    def fail(self, seq: int, reason: str) -> None:
        """A row that hashes right but cannot be used (its payload does not decode)."""
        self.broken = ChainBreak(seq=seq, reason=reason)


def first_break(rows: Iterable[StoredRow]) -> ChainBreak | None:
    """Walk the chain from the first row; None when every row verifies. A row its reader
    could not even parse (`MalformedRowError`) is where it breaks."""
    walk = ChainWalk()
    try:
        for _ in walk.verified(rows):
            pass
    except MalformedRowError as e:
        walk.fail(e.seq, e.reason)
    return walk.broken
