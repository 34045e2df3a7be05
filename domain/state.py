"""The projected state: plain immutable data with a canonical serialisation and a stable hash."""

from __future__ import annotations

import hashlib
from typing import Final, Literal

import msgspec

from domain.errors import SnapshotDecodeError
from domain.events import ChunkKey, Fingerprint, Preset
from domain.pmap import PMap

#: Bump whenever `evolve` would fold the same events to a different state; snapshots written by
#: another projection version are ignored and the log is replayed instead.
PROJECTION_VERSION: Final[int] = 11

PlayStatus = Literal["stopped", "playing", "paused"]
TierName = Literal["L1", "L2", "L3"]
DeadlineClass = Literal["waiting", "L1", "L2", "L3"]
InFlightStatus = Literal["queued", "rendering"]

MB: Final[int] = 1_000_000


class Level(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a chunk is rendered with, the same for every chunk of a track revision."""

    loudness_db: float
    peak: float


class Analysis(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole track measured (`TrackAnalysed`)."""

    loudness_db: float
    peak: float
    frames: int
    reason: str | None = None


class Track(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: str
    fingerprint: Fingerprint
    duration_ms: int
    sample_rate: int
    channels: int
    revision: int = 0
    level: Level | None = None
    analysis: Analysis | None = None


class TrackMap(PMap[Track]):
    """Tracks by id: a persistent map, so a library event does not copy the library."""


class FeatureMap(PMap[dict[str, "Features"]]):
    """Content features of each analysed chunk (by its index, as text), per track."""


class RevisionMap(PMap[int]):
    """The last revision of each deleted track: a track added again continues after it."""


class Playback(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the listener is. `position_ms` was true at event time `anchor_at`; `listened_ms`
    is the audio played before that (a clock of listening time: it stops while paused and runs
    at the player's pace, whatever the event times say)."""

    track: str | None = None
    status: PlayStatus = "stopped"
    position_ms: int = 0
    anchor_at: int = 0
    preset: Preset = "adaptive"
    intensity_tenths: int = 5
    listened_ms: int = 0

    def listened_at(self, now: int, duration_ms: int | None = None) -> int:
        """Audio played until event time `now`: what was played before the anchor, and what
        has played since."""
        return self.listened_ms + max(0, self.position_at(now, duration_ms) - self.position_ms)

    def position_at(self, now: int, duration_ms: int | None = None) -> int:
        """Playhead position at event time `now`, advancing only while playing."""
        position = self.position_ms
        if self.status == "playing" and now > self.anchor_at:
            position += now - self.anchor_at
        if duration_ms is not None and position > duration_ms:
            position = duration_ms
        return position


# --- cache planning ------------------------------------------------------------------------------


class Budgets(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Byte budgets of the tiers (configured at normal pressure, or in force after pressure)."""

    l1: int = 18 * MB
    l2: int = 36 * MB
    l3: int = 45 * MB


class Held(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A rendered (ready) chunk in a tier; only these count as hits and against the budget."""

    key: ChunkKey
    tier: TierName
    probability: float
    bytes: int
    path: str
    last_used: int
    origin: TierName = "L3"
    checksum: str = ""  # of the file, as ChunkRendered recorded it: served only if it matches


class InFlight(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    key: ChunkKey
    status: InFlightStatus
    since: int


class Failure(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Failed renders of one chunk; retried at `retry_at` until `attempts` reaches the limit."""

    key: ChunkKey
    attempts: int
    retry_at: int
    reason: str


class Want(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a tier should hold: a chunk, the probability it is needed, its (estimated) size."""

    key: ChunkKey
    tier: TierName
    probability: float
    bytes: int
    render: bool = False  # likely enough to render ahead (`domain.tiers.worth_rendering`)


class Job(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    key: ChunkKey
    priority: int
    deadline: DeadlineClass
    timeout_ms: int


class Cache(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The three tiers: what they should hold, what they hold, and what to render next.

    Dict keys are `chunk_id(key)` strings. `discarded` lists the chunk files the last event
    dropped (evicted, invalidated, deleted), for the runtime to remove from disk.
    """

    configured: Budgets = msgspec.field(default_factory=Budgets)
    pressure: str = "normal"
    held: dict[str, Held] = msgspec.field(default_factory=dict)
    inflight: dict[str, InFlight] = msgspec.field(default_factory=dict)
    failures: dict[str, Failure] = msgspec.field(default_factory=dict)
    wanted: dict[str, Want] = msgspec.field(default_factory=dict)
    plan: tuple[Job, ...] = ()
    requested: ChunkKey | None = None
    waiting: bool = False
    next_track: str | None = None
    basis: ChunkKey | None = None
    replan_at: int | None = None  # the next failed chunk's retry
    checkpoint: bool = False  # made before the playhead's checkpoint in its chunk
    spilled: tuple[str, ...] = ()
    discarded: tuple[str, ...] = ()


class Features(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    energy: float
    brightness: float
    dynamics: float
    vocals: float
    rhythm: float


class Transition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    at: int
    source: Preset
    target: Preset


class Predictor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Learned preset transitions `counts[from][to]`, recent ones, and top-1 accuracy; how often
    a track change was a skip (the track left before its end); and how the listener listens, per
    chunk played through: preset switches, seeks, skips (the planner's rates)."""

    counts: dict[Preset, dict[Preset, int]] = msgspec.field(default_factory=dict)
    recent: tuple[Transition, ...] = ()
    predictions: int = 0
    correct: int = 0
    track_changes: int = 0
    skips: int = 0
    chunks: int = 0  # chunks the listener started playing (a track change, a seek, playing on)
    # How the last chunks ended, as moving averages (see `domain.habits`): the chance that a
    # chunk sees a preset switch, a burst of them, ends in a seek, ends in a skip.
    switch_rate: float = 0.25
    explore_rate: float = 0.0
    seek_rate: float = 0.05
    skip_rate: float = 0.1
    switched: bool = False  # in the chunk playing now
    burst: bool = False
    switched_at: int | None = None  # event time of the last preset switch while playing
    switched_listened: int | None = None  # the listening clock then (`Playback.listened_ms`)
    gaps: tuple[int, ...] = ()  # ms of listening between the last preset switches (newest last)


class Policy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Interaction policy memory: times of the last applied position and learned preset change."""

    last_position_at: int | None = None
    last_learned_at: int | None = None
    actions: tuple[int, ...] = ()
    throttled: int = 0
    exploring: int = 0
    unlearned: int = 0


class Stats(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    requests: int = 0
    hits_l1: int = 0
    hits_l2: int = 0
    hits_l3: int = 0
    misses: int = 0


class State(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    seq: int = 0
    clock_ms: int = 0
    tracks: TrackMap = msgspec.field(default_factory=TrackMap)
    playback: Playback = msgspec.field(default_factory=Playback)
    ignored: int = 0
    cache: Cache = msgspec.field(default_factory=Cache)
    predictor: Predictor = msgspec.field(default_factory=Predictor)
    policy: Policy = msgspec.field(default_factory=Policy)
    stats: Stats = msgspec.field(default_factory=Stats)
    analysis: FeatureMap = msgspec.field(default_factory=FeatureMap)
    retired: RevisionMap = msgspec.field(default_factory=RevisionMap)

    def duration_of(self, track: str | None) -> int | None:
        known = self.tracks.get(track) if track is not None else None
        return known.duration_ms if known is not None else None


def _encode_map(value: object) -> object:
    if isinstance(value, PMap):
        return dict(value.items())
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


_VALUES: Final[dict[type, type]] = {
    TrackMap: Track,
    FeatureMap: dict[str, Features],
    RevisionMap: int,
}


def _decode_map(kind: type, value: object) -> object:
    values = _VALUES.get(kind)
    if values is None or not isinstance(value, dict):
        raise NotImplementedError(f"cannot decode {kind!r}")
    return kind(msgspec.convert(value, dict[str, values]))  # type: ignore[valid-type]


_encoder = msgspec.json.Encoder(order="deterministic", enc_hook=_encode_map)
_decoder = msgspec.json.Decoder(State, dec_hook=_decode_map)


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
