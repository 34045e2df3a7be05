"""Domain events: immutable facts, past tense, one msgspec struct each.

The `type` tag of each event is its class name; it is what the log stores in its `type` column.
Times are integers of milliseconds since the Unix epoch (UTC) and live in the envelope
(`Recorded.occurred_at`), never in the payload.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, TypeAlias, get_args

import msgspec

Preset: TypeAlias = Literal["adaptive", "gentle", "warm", "bright", "punchy"]
PRESETS: Final[tuple[Preset, ...]] = get_args(Preset)

Millis = Annotated[int, msgspec.Meta(ge=0)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Positive = Annotated[int, msgspec.Meta(gt=0)]
TrackId = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
RelPath = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
Unit = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class Event(msgspec.Struct, frozen=True, tag=True, forbid_unknown_fields=True):
    """Base of every domain event; the tag is the class name."""


class Fingerprint(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What identifies a file's content cheaply: size, mtime and a hash of its first/last blocks."""

    size: Count
    mtime_ns: int
    content_hash: str


# --- library lifecycle -------------------------------------------------------------------------


class TrackAdded(Event, frozen=True):
    track: TrackId
    path: RelPath
    fingerprint: Fingerprint
    duration_ms: Millis
    sample_rate: Positive
    channels: Positive


class TrackModified(Event, frozen=True):
    track: TrackId
    path: RelPath
    fingerprint: Fingerprint
    duration_ms: Millis
    sample_rate: Positive
    channels: Positive


class TrackMoved(Event, frozen=True):
    track: TrackId
    path: RelPath


class TrackDeleted(Event, frozen=True):
    track: TrackId


# --- listener interactions -----------------------------------------------------------------------


class TrackChanged(Event, frozen=True):
    track: TrackId
    position_ms: Millis = 0


class PositionReported(Event, frozen=True):
    position_ms: Millis


class Seeked(Event, frozen=True):
    position_ms: Millis


class PresetChanged(Event, frozen=True):
    preset: Preset


class IntensityChanged(Event, frozen=True):
    intensity: Unit


class Paused(Event, frozen=True):
    pass


class Resumed(Event, frozen=True):
    pass


class Stopped(Event, frozen=True):
    pass


class NextTrackQueued(Event, frozen=True):
    """The player's queue: the track that plays after the current one (None: nothing queued)."""

    track: TrackId | None = None


# --- chunks: requests, worker outcomes, analysis ----------------------------------------------

Tenths = Annotated[int, msgspec.Meta(ge=0, le=10)]
ChunkIndex = Annotated[int, msgspec.Meta(ge=0)]
Feature = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
#: Why the chunk store could not take a rendered chunk: its disk is full, it is read-only, its
#: folder is gone (or a file stands where it should be), or another I/O error. Faults of the
#: store, not of the chunk: transient (`domain.plan.TRANSIENT`).
StoreFault = Literal["no_space", "store_read_only", "store_missing", "store_io"]
FailureReason = Literal[
    "missing",
    "permission",
    "corrupt",
    "timeout",
    "crashed",
    "cancelled",
    "short",
    "unsupported",
    "no_space",
    "store_read_only",
    "store_missing",
    "store_io",
]
PressureLevel = Literal["normal", "warning", "critical", "emergency"]


class ChunkKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True, order=True):
    """One rendered chunk: 30 s of `track` (at file revision `revision`) through a preset.

    The revision is the projection's count of modifications of the track, so a chunk rendered
    from an older version of the file can never be served for the new one.
    """

    track: TrackId
    revision: Count
    preset: Preset
    intensity_tenths: Tenths
    index: ChunkIndex


class ChunkRequested(Event, frozen=True):
    """The player asked for a chunk to play now (a hit if it is ready, a miss otherwise)."""

    key: ChunkKey


class ChunkQueued(Event, frozen=True):
    """The scheduler took the chunk from the plan and queued it for a worker."""

    key: ChunkKey


class ChunkRenderStarted(Event, frozen=True):
    key: ChunkKey


class FrameSpan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Frames [start, start + frames) of a track, in the file's own timeline."""

    start: Count
    frames: Count


class ChunkRendered(Event, frozen=True):
    key: ChunkKey
    path: RelPath
    bytes: Count
    checksum: str
    frames: Count
    render_ms: Count
    short: bool = False
    sanitised: Count = 0  # decoded samples that could not be audio (NaN, Inf, absurd): zeroed
    damaged: tuple[FrameSpan, ...] = ()  # spans of the chunk that did not decode: left out


class ChunkFailed(Event, frozen=True):
    key: ChunkKey
    reason: FailureReason
    detail: str = ""


class ChunkFileLost(Event, frozen=True):
    """Reconciliation found the chunk's file missing or failing its checksum: forget it."""

    key: ChunkKey
    detail: str = ""


class ChunkAnalysed(Event, frozen=True):
    """Content features of one 30 s chunk of a track (DESIGN §1), each in [0, 1]."""

    track: TrackId
    revision: Count
    index: ChunkIndex
    energy: Feature
    brightness: Feature
    dynamics: Feature
    vocals: Feature
    rhythm: Feature
    neutral_reason: str | None = None


class TrackLevelled(Event, frozen=True):
    """The level every chunk of the track (at `revision`) is rendered with: its loudness measured
    on a fixed sample of windows spread over the file, so it is known before the first chunk is
    rendered and is the same for every chunk (the first render of a track measures it)."""

    track: TrackId
    revision: Count
    loudness_db: float
    peak: float


class TrackAnalysed(Event, frozen=True):
    """The whole track measured: integrated loudness, peak and the frames that really decode
    (which correct a length the file's header only estimated)."""

    track: TrackId
    revision: Count
    loudness_db: float
    peak: float
    frames: Count
    neutral_reason: str | None = None
    sanitised: Count = 0  # samples that could not be audio (NaN, Inf, absurd): zeroed
    damaged: tuple[FrameSpan, ...] = ()  # spans that did not decode; decoding resumed after each

    @property
    def decodable_frames(self) -> int:
        """Frames that decode: `frames` (the timeline up to the last decodable frame) less the
        damaged spans inside it."""
        return self.frames - sum(span.frames for span in self.damaged)


class BudgetsSet(Event, frozen=True):
    """Byte budgets of the tiers at normal memory pressure."""

    l1_bytes: Count
    l2_bytes: Count
    l3_bytes: Count


class MemoryPressureChanged(Event, frozen=True):
    level: PressureLevel
    used_fraction: Feature


class ServiceStarted(Event, frozen=True):
    version: str


class ServiceStopped(Event, frozen=True):
    reason: str


WriteFault = Literal["busy", "disk_full", "read_only", "damaged", "unavailable"]


class WritesResumed(Event, frozen=True):
    """The log could not be written for `down_ms` (`cause`: another process held its lock, its
    disk was full, it was read-only, its last row was damaged, another error of the file), and
    can be again: meanwhile the service refused `refused` writes of its clients (nothing of them
    is in the log) and kept `deferred` facts of its own, appended with this event."""

    cause: WriteFault
    down_ms: Count
    refused: Count = 0
    deferred: Count = 0
    detail: str = ""


UnreadableReason = Literal[
    "missing", "directory", "empty", "permission", "unsupported", "wrong_extension", "corrupt"
]


class TrackUnreadable(Event, frozen=True):
    """A library file that looks like audio but cannot be decoded; not a track. `fingerprint`
    (when the file could be read at all) lets a later scan skip it while it is unchanged."""

    path: RelPath
    reason: UnreadableReason
    detail: str = ""
    fingerprint: Fingerprint | None = None


DomainEvent: TypeAlias = (
    TrackAdded
    | TrackModified
    | TrackMoved
    | TrackDeleted
    | TrackChanged
    | PositionReported
    | Seeked
    | PresetChanged
    | IntensityChanged
    | Paused
    | Resumed
    | Stopped
    | NextTrackQueued
    | ChunkRequested
    | ChunkQueued
    | ChunkRenderStarted
    | ChunkRendered
    | ChunkFailed
    | ChunkFileLost
    | ChunkAnalysed
    | TrackAnalysed
    | TrackLevelled
    | BudgetsSet
    | MemoryPressureChanged
    | ServiceStarted
    | ServiceStopped
    | WritesResumed
    | TrackUnreadable
)

#: Every event type by its tag, derived from the union so the two cannot disagree.
EVENT_TYPES: Final[dict[str, type[Event]]] = {cls.__name__: cls for cls in get_args(DomainEvent)}

INTERACTION_TYPES: Final[frozenset[str]] = frozenset(
    {
        "TrackChanged",
        "PositionReported",
        "Seeked",
        "PresetChanged",
        "IntensityChanged",
        "Paused",
        "Resumed",
        "Stopped",
    }
)


def track_of(event: Event) -> str | None:
    """The track an event is about, if any (indexed by the log for `read(track=...)`)."""
    track = getattr(event, "track", None)
    if track is None:
        key = getattr(event, "key", None)
        track = key.track if isinstance(key, ChunkKey) else None
    return track


class NewEvent(msgspec.Struct, frozen=True):
    """An event on its way into the log: the store assigns sequence, version and recorded-at."""

    event_id: str
    occurred_at: int
    event: DomainEvent


class Recorded(msgspec.Struct, frozen=True):
    """An event as the log holds it."""

    seq: int
    event_id: str
    occurred_at: int
    recorded_at: int
    event: DomainEvent

    @property
    def type(self) -> str:
        return type(self.event).__name__
