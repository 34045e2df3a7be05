"""The projected state: plain immutable data with a canonical serialisation and a stable hash."""

from __future__ import annotations

import hashlib
from typing import Final, Literal

import msgspec

from domain.errors import SnapshotDecodeError
from domain.events import Fingerprint

#: Bump whenever `evolve` would fold the same events to a different state; snapshots written by
#: another projection version are ignored and the log is replayed instead.
PROJECTION_VERSION: Final[int] = 1

PlayStatus = Literal["stopped", "playing", "paused"]


class Track(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: str
    fingerprint: Fingerprint
    duration_ms: int
    sample_rate: int
    channels: int
    revision: int = 0


class Playback(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the listener is. `position_ms` was true at event time `anchor_at`."""

    track: str | None = None
    status: PlayStatus = "stopped"
    position_ms: int = 0
    anchor_at: int = 0
    preset: str = "adaptive"
    intensity_tenths: int = 5

    def position_at(self, now: int, duration_ms: int | None = None) -> int:
        """Playhead position at event time `now`, advancing only while playing."""
        position = self.position_ms
        if self.status == "playing" and now > self.anchor_at:
            position += now - self.anchor_at
        if duration_ms is not None and position > duration_ms:
            position = duration_ms
        return position


class State(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    seq: int = 0
    clock_ms: int = 0
    tracks: dict[str, Track] = msgspec.field(default_factory=dict)
    playback: Playback = msgspec.field(default_factory=Playback)
    ignored: int = 0

    def duration_of(self, track: str | None) -> int | None:
        known = self.tracks.get(track) if track is not None else None
        return known.duration_ms if known is not None else None


_encoder = msgspec.json.Encoder(order="deterministic")
_decoder = msgspec.json.Decoder(State)


def encode_state(state: State) -> bytes:
    """Canonical bytes: struct fields in declared order, mapping keys sorted."""
    return _encoder.encode(state)


def decode_state(data: bytes) -> State:
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as e:
        raise SnapshotDecodeError(str(e)) from e


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state_hash(state: State) -> str:
    return hash_bytes(encode_state(state))
