"""Start-up reconciliation of the chunk store with the log, and the janitor that keeps them equal.

At start: temporary files a crash left are deleted; files the log does not hold are orphans and
deleted; chunks the log holds whose file is missing or has the wrong size are forgotten
(`ChunkFileLost`); renders that were in flight when the service stopped are released
(`ChunkFailed(cancelled)`) so the plan asks for them again.
"""

from __future__ import annotations

import logging
import os

import anyio
import msgspec

from adapters.runtime.app import Application
from domain.events import ChunkFailed, ChunkFileLost, DomainEvent
from domain.state import State
from storage.chunks import FileChunkStore

logger = logging.getLogger(__name__)


class Reconciled(msgspec.Struct, frozen=True):
    partials: int
    orphans: int
    lost: int
    released: int


def _reconcile_files(state: State, chunks: FileChunkStore) -> tuple[int, int, list[DomainEvent]]:
    partials = chunks.remove_partials()
    held = {entry.path: entry for entry in state.cache.held.values()}
    orphans = 0
    for relative in list(chunks.files()):
        if relative not in held:
            chunks.remove_file(relative)
            orphans += 1
    events: list[DomainEvent] = []
    for path, entry in sorted(held.items()):
        try:
            size = os.stat(chunks.root / path).st_size
        except OSError:
            events.append(ChunkFileLost(key=entry.key, detail="no file at start-up"))
            continue
        if size != entry.bytes:
            chunks.remove_file(path)
            detail = f"{size} bytes on disk, {entry.bytes} recorded"
            events.append(ChunkFileLost(key=entry.key, detail=detail))
    return partials, orphans, events


async def reconcile(app: Application, chunks: FileChunkStore) -> Reconciled:
    state = app.state
    partials, orphans, events = await anyio.to_thread.run_sync(_reconcile_files, state, chunks)
    lost = len(events)
    for flight in sorted(state.cache.inflight.values(), key=lambda f: f.since):
        detail = "in flight when the service stopped"
        events.append(ChunkFailed(key=flight.key, reason="cancelled", detail=detail))
    if events:
        await app.record(*events)
        await app.catch_up()
    result = Reconciled(partials, orphans, lost, len(events) - lost)
    logger.info(
        "reconciled chunk store: %d partial, %d orphaned files deleted; %d chunks lost; "
        "%d renders released",
        result.partials,
        result.orphans,
        result.lost,
        result.released,
    )
    return result


class Janitor:
    """Deletes the chunk files the folded events dropped, unless they are held again."""

    def __init__(self, app: Application, chunks: FileChunkStore) -> None:
        self.app = app
        self.chunks = chunks
        self.deleted = 0

    def __call__(self, state: State) -> None:
        paths = self.app.take_discarded()
        if not paths:
            return
        held = {entry.path for entry in state.cache.held.values()}
        for path in paths:
            if path not in held and self.chunks.remove_file(path):
                self.deleted += 1
