"""What the running service reports beside the folded state (`GET /v1/status`, the demo)."""

from __future__ import annotations

import msgspec

from adapters.runtime.writes import LogStatus
from domain.events import ChunkKey


class Outcomes(msgspec.Struct):
    """What the workers did since the service started."""

    rendered: int = 0
    failed: dict[str, int] = msgspec.field(default_factory=dict)  # by ChunkFailed reason
    levelled: int = 0
    analysed: int = 0  # chunks measured in the background
    preempted: int = 0  # jobs cancelled to give their worker to a more urgent one


class StoreHealth(msgspec.Struct, frozen=True):
    """Whether the chunk store takes rendered chunks: `failing` since a render met a fault of
    the store (`reason`: no_space, store_read_only, store_missing, store_io), until one lands."""

    status: str = "ok"
    reason: str | None = None
    detail: str = ""


class RuntimeStatus(msgspec.Struct, frozen=True):
    workers: int  # configured
    alive: list[int]  # pids of the worker processes up now
    running: list[ChunkKey]
    outcomes: Outcomes
    watcher: str
    watcher_detail: str
    chunk_store: StoreHealth = StoreHealth()
    log: LogStatus = LogStatus()
