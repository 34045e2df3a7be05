"""A chunk by its full key (any track, preset and intensity), as `Player.chunk` does for the
chunk of what is playing: a hit, or the most urgent job, waited on up to a deadline."""

from __future__ import annotations

import time

import anyio

from adapters.runtime.player import ChunkResult, ChunkStatus, Player
from domain.events import ChunkFileLost, ChunkKey, ChunkRequested
from domain.state import State
from domain.tiers import chunk_count, chunk_id
from storage.chunks import ChunkStoreError


def known(state: State, key: ChunkKey) -> bool:
    track = state.tracks.get(key.track)
    return (
        track is not None
        and track.revision == key.revision
        and 0 <= key.index < chunk_count(track.duration_ms)
    )


async def chunk_by_key(player: Player, key: ChunkKey, *, wait_s: float) -> ChunkResult:
    app = player.app
    state = await app.catch_up()
    if not known(state, key):
        return ChunkResult("unavailable", None, detail="unknown track or revision, or past its end")
    began = time.perf_counter()
    (seq,) = await app.record(ChunkRequested(key=key))
    ident = chunk_id(key)
    state = await app.until_seq(seq)
    if ident in state.cache.held:
        return await _read(player, key, "hit", began)
    with anyio.move_on_after(wait_s):
        await app.until(lambda s: ident in s.cache.held or not _waiting_on(s, key))
        if ident in app.state.cache.held:
            return await _read(player, key, "rendered", began)
    waited = round((time.perf_counter() - began) * 1000)
    failure = app.state.cache.failures.get(ident)
    detail = f"failed: {failure.reason}" if failure is not None else "still rendering"
    return ChunkResult("pending", key, waited_ms=waited, detail=detail)


def _waiting_on(state: State, key: ChunkKey) -> bool:
    return state.cache.requested == key and state.cache.waiting


async def _read(player: Player, key: ChunkKey, status: ChunkStatus, began: float) -> ChunkResult:
    entry = player.app.state.cache.held.get(chunk_id(key))
    if entry is None:
        return ChunkResult("pending", key, detail="evicted while reading")
    try:
        data = await anyio.to_thread.run_sync(
            lambda: player.chunks.read(key, size=entry.bytes, checksum=entry.checksum)
        )
    except ChunkStoreError as e:
        await player.app.record(ChunkFileLost(key=key, detail=str(e)))
        return ChunkResult("pending", key, detail=f"chunk file unusable: {e}")
    waited = round((time.perf_counter() - began) * 1000)
    return ChunkResult(status, key, entry.origin, data, entry.checksum, waited)
