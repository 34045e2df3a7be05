"""The interface a player uses: interactions in, rendered chunks out, and what it may read.

The one entrance for every player action and read: the HTTP API wraps exactly this (it never
reaches behind it into the application, the log or the scheduler); the demo and the end-to-end
tests drive it directly.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Collection
from typing import Literal

import anyio
import msgspec

from adapters.runtime.app import Application
from adapters.runtime.status import RuntimeStatus
from adapters.runtime.writes import LogUnwritableError
from domain.events import ChunkFileLost, ChunkKey, ChunkRequested, DomainEvent, NewEvent
from domain.plan import MAX_ATTEMPTS, blocked
from domain.state import Failure, State
from domain.tiers import chunk_count, chunk_id, current_key
from storage.chunks import ChunkStoreError, FileChunkStore, chunk_path
from storage.row import StoredRow

ChunkStatus = Literal["hit", "rendered", "pending", "failed", "unavailable"]


class ChunkResult(msgspec.Struct, frozen=True):
    status: ChunkStatus
    key: ChunkKey | None
    tier: str | None = None
    data: bytes | None = None
    checksum: str | None = None
    waited_ms: int = 0
    detail: str = ""
    retry_after_ms: int | None = None  # failed: when it is tried again (None: not until the
    # track's file changes)


def known(state: State, key: ChunkKey) -> bool:
    """A chunk of a track the log knows, at its current revision, inside the track."""
    track = state.tracks.get(key.track)
    return (
        track is not None
        and track.revision == key.revision
        and 0 <= key.index < chunk_count(track.duration_ms)
    )


class Player:
    def __init__(
        self,
        app: Application,
        chunks: FileChunkStore,
        status: Callable[[], RuntimeStatus],
    ) -> None:
        self.app = app
        self.chunks = chunks
        self._status = status

    @property
    def state(self) -> State:
        return self.app.state

    def now(self) -> int:
        return self.app.clock()

    def new_id(self) -> str:
        return self.app.new_id()

    def runtime(self) -> RuntimeStatus:
        return self._status()

    async def interact(
        self, event: DomainEvent, *, event_id: str | None = None, occurred_at: int | None = None
    ) -> int:
        """Append one interaction (now, unless the player says when); returns its sequence
        number once committed. A retried `event_id` is appended once."""
        at = self.app.clock() if occurred_at is None else occurred_at
        new = NewEvent(event_id or self.app.new_id(), at, event)
        (seq,) = await self.app.append([new])
        return seq

    def rows(
        self, *, after: int = 0, types: Collection[str] | None = None, track: str | None = None
    ) -> AsyncIterator[StoredRow]:
        """The log as stored, from sequence `after`, filtered by type and track."""
        return self.app.log.events.read_rows(after=after, types=types, track=track)

    async def changed(self, after_seq: int) -> State:
        """Wait until the folded state is past `after_seq` (use with a deadline)."""
        return await self.app.changed(after_seq)

    async def chunk(self, index: int, *, wait_s: float) -> ChunkResult:
        """Ask for chunk `index` of what is playing: a hit, or wait up to `wait_s` for it."""
        state = await self.app.settled()
        key = current_key(state, index)
        if key is None:
            return ChunkResult("unavailable", None, detail="nothing playing, or past the end")
        return await self.chunk_by_key(key, wait_s=wait_s)

    async def chunk_by_key(self, key: ChunkKey, *, wait_s: float) -> ChunkResult:
        """Ask for any chunk (track, revision, preset, intensity, index): a hit, or the most
        urgent job, waited on up to `wait_s`. While the log cannot be written a ready chunk is
        served without recording the request; any other raises `LogUnwritableError`."""
        if not known(await self.app.settled(), key):
            return ChunkResult(
                "unavailable", None, detail="unknown track or revision, or past its end"
            )
        began = time.perf_counter()
        ident = chunk_id(key)
        try:
            seq = await self.interact(ChunkRequested(key=key))
        except LogUnwritableError:  # degraded: a ready chunk is still served, unrecorded
            entry = self.app.state.cache.held.get(ident)
            if entry is None:
                raise
            return await self._read(key, "hit", entry.origin, began)
        state = await self.app.until_seq(seq)
        entry = state.cache.held.get(ident)
        if entry is not None:
            return await self._read(key, "hit", entry.origin, began)
        before = state.cache.failures.get(ident)
        if blocked(before, state.clock_ms):
            return _failed(key, before, state.clock_ms, began)

        def answered(s: State) -> bool:
            return (
                ident in s.cache.held
                or not _wanted(s, key)
                or s.cache.failures.get(ident) is not before
            )

        with anyio.move_on_after(wait_s):
            state = await self.app.until(answered)
            entry = state.cache.held.get(ident)
            if entry is not None:
                return await self._read(key, "rendered", entry.origin, began)
            failure = state.cache.failures.get(ident)
            if failure is not None and failure is not before:
                return _failed(key, failure, state.clock_ms, began)
            if not _wanted(state, key):  # the player asked for another chunk since
                detail = "another chunk was asked for since: ask again to have this one"
                return ChunkResult("pending", key, waited_ms=_since(began), detail=detail)
        return ChunkResult("pending", key, waited_ms=_since(began), detail="still rendering")

    async def _read(
        self, key: ChunkKey, status: ChunkStatus, tier: str, began: float
    ) -> ChunkResult:
        entry = self.app.state.cache.held.get(chunk_id(key))
        if entry is None:
            return ChunkResult("pending", key, detail="evicted while reading")
        try:
            data = await anyio.to_thread.run_sync(
                lambda: self.chunks.read(key, size=entry.bytes, checksum=entry.checksum)
            )
        except ChunkStoreError as e:  # named by its path in the store, never the absolute one
            detail = f"{chunk_path(key)}: {e.reason}"
            await self.app.record(ChunkFileLost(key=key, detail=detail))
            return ChunkResult("pending", key, detail=f"chunk file unusable: {e.reason}")
        return ChunkResult(status, key, tier, data, entry.checksum, _since(began))


def _since(began: float) -> int:
    return round((time.perf_counter() - began) * 1000)


def _failed(key: ChunkKey, failure: Failure | None, now: int, began: float) -> ChunkResult:
    """The render failed: why, and when it is tried again (None: only once the file changes)."""
    assert failure is not None
    retry = None if failure.attempts >= MAX_ATTEMPTS else max(0, failure.retry_at - now)
    detail = f"failed: {failure.reason} ({failure.attempts} attempts)"
    return ChunkResult("failed", key, waited_ms=_since(began), detail=detail, retry_after_ms=retry)


def _wanted(state: State, key: ChunkKey) -> bool:
    cache = state.cache
    return cache.requested == key and cache.waiting
