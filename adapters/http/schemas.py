"""Request and response bodies of the API, as msgspec structs (the OpenAPI document is built
from them, so the document and the code cannot drift apart)."""

from __future__ import annotations

from typing import Any

import msgspec

from adapters.runtime.status import Outcomes, StoreHealth
from adapters.runtime.writes import LogStatus
from domain.events import ChunkKey
from storage.row import LogRow


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    message: str
    field: str | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    error: ErrorDetail


class Accepted(msgspec.Struct, frozen=True):
    """An interaction is in the log. A retry with the same id gets the same answer: only what
    the stored event and the retry share (the first attempt's body and time are what is kept)."""

    seq: int
    event_id: str


class Pending(msgspec.Struct, frozen=True):
    """A chunk that is not ready yet (`pending`), or whose render failed and is tried again
    after a back-off (`failed`): ask again after Retry-After seconds."""

    status: str
    key: ChunkKey | None
    waited_ms: int
    detail: str
    retry_after_ms: int | None = None


class TierStatus(msgspec.Struct, frozen=True):
    chunks: int
    bytes: int
    budget: int
    hits: int


class HitStatus(msgspec.Struct, frozen=True):
    requests: int
    misses: int
    hit_rate: float | None


class PlaybackStatus(msgspec.Struct, frozen=True):
    status: str
    track: str | None
    position_ms: int
    preset: str
    intensity: float


class WorkerStatus(msgspec.Struct, frozen=True):
    configured: int
    alive: int
    running: list[ChunkKey]
    outcomes: Outcomes


class LibraryStatus(msgspec.Struct, frozen=True):
    tracks: int
    watcher: str
    watcher_detail: str


class Status(msgspec.Struct, frozen=True):
    seq: int
    event_time: int
    playback: PlaybackStatus
    tiers: dict[str, TierStatus]
    hits: HitStatus
    plan_length: int
    waiting: bool
    in_flight: int
    failed_chunks: int
    workers: WorkerStatus
    memory_level: str
    library: LibraryStatus
    predictor_accuracy: float | None
    throttled: int
    clock_skewed: int  # events timed by the store's clock, not their own (README, Event time)
    log: LogStatus  # whether the log can be written (degraded mode)
    chunk_store: StoreHealth  # whether the chunk store takes rendered chunks


class TrackInfo(msgspec.Struct, frozen=True):
    track: str
    path: str
    revision: int
    duration_ms: int
    chunks: int


class Tracks(msgspec.Struct, frozen=True):
    tracks: list[TrackInfo]


class LogEntry(LogRow[dict[str, Any]], frozen=True):
    """A log row (`storage.row.LogRow`) with its payload decoded."""


class LogPage(msgspec.Struct, frozen=True):
    events: list[LogEntry]
    #: pass as `after` for the next page; null when this page reached the end of the log
    next_after: int | None
