"""Chunk life cycle in the fold: requests (hits and misses), worker outcomes, analysis, budgets.

A chunk entry moves wanted → queued → rendering → ready | failed; the table below is the single
statement of which worker event may move it from where. An event that does not fit the table (a
render start of a chunk already held, an outcome for a chunk of an old revision) is ignored and
counted, and a file it names is listed for deletion.
"""

from __future__ import annotations

from typing import Final

from msgspec.structs import replace

from domain.events import (
    BudgetsSet,
    ChunkAnalysed,
    ChunkFailed,
    ChunkFileLost,
    ChunkKey,
    ChunkQueued,
    ChunkRendered,
    ChunkRenderStarted,
    ChunkRequested,
    MemoryPressureChanged,
    NextTrackQueued,
)
from domain.plan import TRANSIENT, place, replan, retry_delay, store_retry_delay
from domain.state import Budgets, Cache, Failure, Features, Held, InFlight, State
from domain.tiers import chunk_id, is_current

#: (status now, worker event) -> status after. "wanted" stands for any chunk not in flight/held.
TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    ("wanted", "ChunkQueued"): "queued",
    ("wanted", "ChunkRenderStarted"): "rendering",
    ("queued", "ChunkRenderStarted"): "rendering",
    ("wanted", "ChunkRendered"): "ready",
    ("queued", "ChunkRendered"): "ready",
    ("rendering", "ChunkRendered"): "ready",
    ("queued", "ChunkFailed"): "failed",
    ("rendering", "ChunkFailed"): "failed",
    ("wanted", "ChunkFailed"): "failed",
    ("ready", "ChunkFileLost"): "wanted",
}


def status_of(cache: Cache, ident: str) -> str:
    if ident in cache.held:
        return "ready"
    flight = cache.inflight.get(ident)
    return "wanted" if flight is None else flight.status


def _ignored(state: State) -> State:
    return replace(state, ignored=state.ignored + 1)


def _allowed(state: State, key: ChunkKey, event_type: str) -> bool:
    status = status_of(state.cache, chunk_id(key))
    return is_current(state, key) and (status, event_type) in TRANSITIONS


def chunk_started(state: State, event: ChunkQueued | ChunkRenderStarted, now: int) -> State:
    kind = type(event).__name__
    if not _allowed(state, event.key, kind):
        return _ignored(state)
    ident = chunk_id(event.key)
    cache = state.cache
    inflight = dict(cache.inflight)
    inflight[ident] = InFlight(event.key, TRANSITIONS[(status_of(cache, ident), kind)], now)  # type: ignore[arg-type]
    plan = tuple(job for job in cache.plan if job.key != event.key)
    return replace(state, cache=replace(cache, inflight=inflight, plan=plan))


def _landed(cache: Cache, ident: str) -> tuple[dict[str, InFlight], dict[str, Failure]]:
    inflight = cache.inflight
    if ident in inflight:
        inflight = {i: f for i, f in inflight.items() if i != ident}
    failures = cache.failures
    if ident in failures:
        failures = {i: f for i, f in failures.items() if i != ident}
    return inflight, failures


def chunk_rendered(state: State, event: ChunkRendered, now: int) -> State:
    cache = state.cache
    if not _allowed(state, event.key, "ChunkRendered"):
        discard = () if chunk_id(event.key) in cache.held else (event.path,)
        cache = replace(cache, discarded=(*cache.discarded, *discard))
        return _ignored(replace(state, cache=cache))
    ident = chunk_id(event.key)
    inflight, failures = _landed(cache, ident)
    held = dict(cache.held)
    held[ident] = Held(event.key, "L3", 0.0, event.bytes, event.path, now, checksum=event.checksum)
    waiting = cache.waiting and cache.requested != event.key
    cache = replace(cache, held=held, inflight=inflight, failures=failures, waiting=waiting)
    return place(replace(state, cache=cache), ident, now)


def chunk_failed(state: State, event: ChunkFailed, now: int) -> State:
    if not _allowed(state, event.key, "ChunkFailed"):
        return _ignored(state)
    ident = chunk_id(event.key)
    cache = state.cache
    inflight, failures = _landed(cache, ident)
    if event.reason != "cancelled":
        failures = dict(failures)
        failures[ident] = _failure(cache.failures.get(ident), event, now)
    cache = replace(cache, inflight=inflight, failures=failures)
    if event.reason == "cancelled" and ident not in cache.wanted:
        return replace(state, cache=cache)  # nobody wants it: the plan does not change
    return replan(replace(state, cache=cache), now)


def _failure(previous: Failure | None, event: ChunkFailed, now: int) -> Failure:
    """The chunk's failure record after `event`: a store fault waits (no attempt used), any
    other failure uses an attempt."""
    attempts = 0 if previous is None else previous.attempts
    if event.reason in TRANSIENT:
        waits = 1 if previous is None else previous.waits + 1
        return Failure(event.key, attempts, now + store_retry_delay(waits), event.reason, waits)
    return Failure(event.key, attempts + 1, now + retry_delay(attempts + 1), event.reason)


def chunk_file_lost(state: State, event: ChunkFileLost, now: int) -> State:
    ident = chunk_id(event.key)
    cache = state.cache
    entry = cache.held.get(ident)
    if entry is None:
        return _ignored(state)
    held = {i: h for i, h in cache.held.items() if i != ident}
    cache = replace(cache, held=held, discarded=(*cache.discarded, entry.path))
    return replan(replace(state, cache=cache), now)


def chunk_requested(state: State, event: ChunkRequested, now: int) -> State:
    """A hit, or a miss that makes the chunk the most urgent job.

    A hit is credited to the tier whose plan made the chunk ready (`Held.origin`): the interaction
    that precedes a request re-plans first and promotes the chunk it needs to L1, so the tier
    holding it at request time would credit L1 with the branch scenarios' and read-ahead's work.
    """
    key = event.key
    ident = chunk_id(key)
    cache = state.cache
    stats = state.stats
    entry = cache.held.get(ident)
    if entry is not None:
        held = dict(cache.held)
        held[ident] = replace(entry, last_used=now)
        tier = entry.origin
        stats = replace(
            stats,
            requests=stats.requests + 1,
            hits_l1=stats.hits_l1 + (tier == "L1"),
            hits_l2=stats.hits_l2 + (tier == "L2"),
            hits_l3=stats.hits_l3 + (tier == "L3"),
        )
        same = cache.requested == key
        cache = replace(cache, held=held, requested=key, waiting=False)
        after = replace(state, cache=cache, stats=stats)
        return after if same else replan(after, now)
    stats = replace(stats, requests=stats.requests + 1, misses=stats.misses + 1)
    cache = replace(cache, requested=key, waiting=is_current(state, key))
    return replan(replace(state, cache=cache, stats=stats), now)


def chunk_analysed(state: State, event: ChunkAnalysed, now: int) -> State:
    track = state.tracks.get(event.track)
    if track is None or track.revision != event.revision:
        return _ignored(state)
    features = Features(event.energy, event.brightness, event.dynamics, event.vocals, event.rhythm)
    per_track = dict(state.analysis.get(event.track, {}))
    per_track[str(event.index)] = features
    after = replace(state, analysis=state.analysis.set(event.track, per_track))
    basis = state.cache.basis
    playing = basis is not None and basis.track == event.track and basis.index == event.index
    return replan(after, now) if playing else after


def budgets_set(state: State, event: BudgetsSet, now: int) -> State:
    configured = Budgets(event.l1_bytes, event.l2_bytes, event.l3_bytes)
    return replan(replace(state, cache=replace(state.cache, configured=configured)), now)


def pressure_changed(state: State, event: MemoryPressureChanged, now: int) -> State:
    return replan(replace(state, cache=replace(state.cache, pressure=event.level)), now)


def next_track_queued(state: State, event: NextTrackQueued, now: int) -> State:
    return replan(replace(state, cache=replace(state.cache, next_track=event.track)), now)


def _kept(key: ChunkKey, track: str, keep_revision: int | None) -> bool:
    return key.track != track or key.revision == keep_revision


def forget_track(state: State, track: str, keep_revision: int | None) -> State:
    """Drop every chunk, flight, failure and analysis of `track` not at `keep_revision`."""
    cache = state.cache
    gone = {
        i: h
        for i, h in cache.held.items()
        if h.key.track == track and h.key.revision != keep_revision
    }
    held = {i: h for i, h in cache.held.items() if i not in gone} if gone else cache.held
    inflight = {i: f for i, f in cache.inflight.items() if _kept(f.key, track, keep_revision)}
    failures = {i: f for i, f in cache.failures.items() if _kept(f.key, track, keep_revision)}
    discarded = (*cache.discarded, *sorted(h.path for h in gone.values()))
    cache = replace(cache, held=held, inflight=inflight, failures=failures, discarded=discarded)
    return replace(state, cache=cache, analysis=state.analysis.delete(track))
