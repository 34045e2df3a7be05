"""Re-planning: what the tiers want, where each rendered chunk sits, eviction, and the render plan.

Run by the projection only when an input of the plan changed (playhead chunk, preset, intensity,
track, a worker outcome, a request miss, budgets, pressure, queue, analysis of the playing chunk),
so its cost (tens of chunks, never the library) is paid on a small share of events.
"""

from __future__ import annotations

from typing import Final, get_args

from msgspec.structs import replace

from domain import habits
from domain.events import ChunkKey, StoreFault
from domain.state import (
    Budgets,
    Cache,
    Failure,
    Held,
    Job,
    Playback,
    State,
    TierName,
    Track,
    Want,
)
from domain.tiers import (
    TIERS,
    TIMEOUT_MS,
    at_playhead_of,
    before_checkpoint,
    before_checkpoint_of,
    budgets_in_force,
    candidates,
    chunk_id,
    fit,
    is_current,
    now_playing,
    playhead_key,
)

MAX_ATTEMPTS: Final[int] = 3
RETRY_BASE_MS: Final[int] = 10_000
RETRY_FACTOR: Final[int] = 4
#: Failures of the chunk store, not of the chunk (no space, read-only, folder gone, I/O): they
#: use none of the chunk's attempts and are retried as the store may have recovered, after
#: 2 s, 4 s, 8 s ... at most 30 s apart.
TRANSIENT: Final[frozenset[str]] = frozenset(get_args(StoreFault))
STORE_RETRY_BASE_MS: Final[int] = 2_000
STORE_RETRY_MAX_MS: Final[int] = 30_000


def retry_delay(attempts: int) -> int:
    """Backoff after the `attempts`-th failure: 10 s, 40 s, ..."""
    return int(RETRY_BASE_MS * RETRY_FACTOR ** max(0, attempts - 1))


def store_retry_delay(waits: int) -> int:
    """Backoff after the `waits`-th store fault in a row: 2 s, 4 s, 8 s, ... at most 30 s."""
    return min(STORE_RETRY_MAX_MS, STORE_RETRY_BASE_MS << min(max(0, waits - 1), 16))


def blocked(failure: Failure | None, now: int) -> bool:
    """A known failure not yet due for a retry, or out of retries (until the track changes)."""
    return failure is not None and (failure.attempts >= MAX_ATTEMPTS or now < failure.retry_at)


def budget_of(budgets: Budgets, tier: TierName) -> int:
    return budgets.l1 if tier == "L1" else budgets.l2 if tier == "L2" else budgets.l3


def _wants(
    state: State, now: int, basis: ChunkKey | None, spilled: tuple[str, ...]
) -> list[tuple[str, Want]]:
    playing = now_playing(state, now)
    budgets = budgets_in_force(state, playing)
    if state.cache.pressure == "emergency":
        if playing is None:
            return []
        return fit(state, [("L1", playing, 1.0, True)], budgets, ())
    if basis is None:
        requested = state.cache.requested
        if requested is None or not is_current(state, requested):
            return []
        return fit(state, [("L1", requested, 1.0, True)], budgets, ())
    return fit(state, candidates(state, basis, state.playback, now), budgets, spilled)


def _placed(cache: Cache, wanted: dict[str, Want]) -> dict[str, Held]:
    """Each rendered chunk in the tier that wants it; unwanted ones become cold L3 entries (p 0)."""
    held: dict[str, Held] = {}
    for ident in sorted(cache.held):
        entry = cache.held[ident]
        want = wanted.get(ident)
        tier: TierName = "L3" if want is None else want.tier
        probability = 0.0 if want is None else want.probability
        if entry.tier != tier or entry.probability != probability:
            origin = entry.origin if entry.probability > 0.0 else tier
            entry = replace(entry, tier=tier, probability=probability, origin=origin)
        held[ident] = entry
    return held


def evict(held: dict[str, Held], budgets: Budgets) -> tuple[dict[str, Held], list[str]]:
    """Inside each tier over budget: lowest probability first, then least recently used."""
    evicted: list[str] = []
    for tier in TIERS:
        entries = [(h.probability, h.last_used, i) for i, h in held.items() if h.tier == tier]
        total = sum(held[i].bytes for _, _, i in entries)
        limit = budget_of(budgets, tier)
        for _, _, ident in sorted(entries):
            if total <= limit:
                break
            total -= held[ident].bytes
            evicted.append(ident)
    if not evicted:
        return held, evicted
    gone = set(evicted)
    return {i: h for i, h in held.items() if i not in gone}, evicted


def _jobs(cache: Cache, wants: list[tuple[str, Want]], state: State, now: int) -> tuple[Job, ...]:
    jobs: list[Job] = []
    listed: set[str] = set()
    requested = cache.requested
    if requested is not None and cache.waiting and is_current(state, requested):
        ident = chunk_id(requested)
        if _renderable(cache, ident, now):
            jobs.append(Job(requested, 0, "waiting", TIMEOUT_MS["waiting"]))
            listed.add(ident)
    for ident, want in wants:
        if ident in listed or not want.render:
            continue
        if _renderable(cache, ident, now):
            jobs.append(Job(want.key, len(jobs), want.tier, TIMEOUT_MS[want.tier]))
            listed.add(ident)
    return tuple(jobs)


def _renderable(cache: Cache, ident: str, now: int) -> bool:
    return (
        ident not in cache.held
        and ident not in cache.inflight
        and not blocked(cache.failures.get(ident), now)
    )


def _next_retry(cache: Cache, now: int) -> int | None:
    due = [
        f.retry_at
        for f in cache.failures.values()
        if f.attempts < MAX_ATTEMPTS and f.retry_at > now
    ]
    return min(due) if due else None


def replan(state: State, now: int) -> State:
    """The state with tiers, eviction and render plan recomputed at event time `now`."""
    cache = state.cache
    basis = playhead_key(state, now)
    spilled = cache.spilled if basis == cache.basis else ()
    old = cache.basis
    if (
        old is not None
        and basis is not None
        and basis.track == old.track
        and basis.index == old.index + 1
        and state.playback.status == "playing"
    ):  # played on into the next chunk
        state = replace(state, predictor=habits.chunk_ended(state.predictor))
    wants = _wants(state, now, basis, spilled)
    wanted = dict(wants)
    budgets = budgets_in_force(state, now_playing(state, now))
    held, evicted = evict(_placed(cache, wanted), budgets)
    discarded = cache.discarded
    if evicted:
        discarded = (*discarded, *(cache.held[i].path for i in evicted))
        lost = [i for i in evicted if i in wanted]
        if lost:
            spilled = (*spilled, *lost)[-32:]
            wants = [(i, w) for i, w in wants if i not in lost]
            wanted = dict(wants)
    cache = replace(
        cache,
        held=held,
        wanted=wanted,
        basis=basis,
        spilled=spilled,
        discarded=discarded,
    )
    cache = replace(
        cache,
        plan=_jobs(cache, wants, state, now),
        replan_at=_next_retry(cache, now),
        checkpoint=before_checkpoint(state, now),
    )
    return replace(state, cache=cache)


def needs_replan(state: State, now: int) -> bool:
    """Whether time or the playhead moved the plan's inputs since it was made (a retry came due,
    the playhead passed its chunk's checkpoint or left the chunk)."""
    playback = state.playback
    track = state.tracks.get(playback.track) if playback.track is not None else None
    return not plan_holds(state.cache, playback, track, now)


def plan_holds(cache: Cache, playback: Playback, track: Track | None, now: int) -> bool:
    """`not needs_replan` for this cache and playback, the playing track already looked up (None:
    nothing known plays): what the fold asks for every position report."""
    if cache.replan_at is not None and now >= cache.replan_at:
        return False
    duration = None if track is None else track.duration_ms
    if cache.checkpoint and not before_checkpoint_of(playback, duration, now):
        return False
    return at_playhead_of(playback, track, now, cache.basis)


def place(state: State, ident: str, now: int) -> State:
    """A chunk just became ready: put it in the tier that wants it (cold L3 if none) and evict
    inside that tier only. The plan only loses the chunk itself, if it was still in it."""
    if needs_replan(state, now):
        return replan(state, now)
    cache = state.cache
    want = cache.wanted.get(ident)
    entry = cache.held[ident]
    if want is not None:
        entry = replace(entry, tier=want.tier, probability=want.probability, origin=want.tier)
    held = dict(cache.held)
    held[ident] = entry
    if any(job.key == entry.key for job in cache.plan):  # rendered without being started
        cache = replace(cache, plan=tuple(j for j in cache.plan if j.key != entry.key))
    budgets = budgets_in_force(state, now_playing(state, now))
    tier = entry.tier
    inside = {i: h for i, h in held.items() if h.tier == tier}
    kept, evicted = evict(inside, budgets)
    if not evicted:
        return replace(state, cache=replace(cache, held=held))
    for i in evicted:
        del held[i]
    discarded = (*cache.discarded, *(inside[i].path for i in evicted))
    lost = [i for i in evicted if i in cache.wanted]
    spilled = (*cache.spilled, *lost)[-32:] if lost else cache.spilled
    wanted = {i: w for i, w in cache.wanted.items() if i not in lost} if lost else cache.wanted
    cache = replace(cache, held=held, discarded=discarded, spilled=spilled, wanted=wanted)
    return replace(state, cache=cache)
