"""What the read endpoints show, computed from the folded state and the running service."""

from __future__ import annotations

import msgspec

from adapters.http.schemas import (
    HitStatus,
    LibraryStatus,
    LogEntry,
    PlaybackStatus,
    Status,
    TierStatus,
    TrackInfo,
    Tracks,
    WorkerStatus,
)
from adapters.runtime.player import Player
from domain.state import State
from domain.tiers import budgets_in_force, chunk_count, now_playing
from storage.row import StoredRow


def status_of(player: Player) -> Status:
    state = player.state
    runtime = player.runtime()
    cache, stats = state.cache, state.stats
    budgets = budgets_in_force(state, now_playing(state, state.clock_ms))
    hits = {"L1": stats.hits_l1, "L2": stats.hits_l2, "L3": stats.hits_l3}
    tiers = {
        name: TierStatus(chunks=0, bytes=0, budget=budget, hits=hits[name])
        for name, budget in (("L1", budgets.l1), ("L2", budgets.l2), ("L3", budgets.l3))
    }
    for held in cache.held.values():
        tier = tiers[held.tier]
        tiers[held.tier] = msgspec.structs.replace(
            tier, chunks=tier.chunks + 1, bytes=tier.bytes + held.bytes
        )
    served = stats.hits_l1 + stats.hits_l2 + stats.hits_l3
    predictor = state.predictor
    return Status(
        seq=state.seq,
        event_time=state.clock_ms,
        playback=_playback(state),
        tiers=tiers,
        hits=HitStatus(
            requests=stats.requests,
            misses=stats.misses,
            hit_rate=round(served / stats.requests, 4) if stats.requests else None,
        ),
        plan_length=len(cache.plan),
        waiting=cache.waiting,
        in_flight=len(cache.inflight),
        failed_chunks=len(cache.failures),
        workers=WorkerStatus(
            configured=runtime.workers,
            alive=len(runtime.alive),
            running=runtime.running,
            outcomes=runtime.outcomes,
        ),
        memory_level=cache.pressure,
        library=LibraryStatus(
            tracks=len(state.tracks),
            watcher=runtime.watcher,
            watcher_detail=runtime.watcher_detail,
        ),
        predictor_accuracy=(
            round(predictor.correct / predictor.predictions, 4) if predictor.predictions else None
        ),
        throttled=state.policy.throttled,
        clock_skewed=state.clock_skewed,
        log=runtime.log,
        chunk_store=runtime.chunk_store,
    )


def _playback(state: State) -> PlaybackStatus:
    playback = state.playback
    return PlaybackStatus(
        status=playback.status,
        track=playback.track,
        position_ms=playback.position_at(state.clock_ms, state.duration_of(playback.track)),
        preset=playback.preset,
        intensity=playback.intensity_tenths / 10,
    )


def tracks_of(state: State) -> Tracks:
    return Tracks(
        [
            TrackInfo(name, t.path, t.revision, t.duration_ms, chunk_count(t.duration_ms))
            for name, t in sorted(state.tracks.items())
        ]
    )


def log_entry(row: StoredRow) -> LogEntry:
    fields = msgspec.structs.asdict(row)
    fields["payload"] = msgspec.json.decode(row.payload)
    return LogEntry(**fields)
