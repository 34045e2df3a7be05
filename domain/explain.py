"""Why a chunk is where it is: its story, told from the log alone.

`standing(state, key)` is everything the projection says about one chunk at one point of the log:
whether a tier wants it and how likely it is needed, its place in the render plan (or why it is
not rendered ahead), whether a worker has it, whether it is held (ready) and in which tier, its
failures and when it is tried again, and whether the player asked for it and waits on it.

`step(key, before, recorded, mark, after)` compares the chunk's standing before and after one
event: the event belongs to the chunk's story when it names the chunk or changes its standing
(a change of probability alone, which nearly every position report makes, does not count), and
the step says in words what changed and why, with the interaction policy's mark of the event
(`domain.policy.audit_mark`). The causes are the fold's own decisions: `Want.render`
for a chunk wanted but not rendered ahead, `TRANSIENT` and `MAX_ATTEMPTS` for a failure, the event
itself for an eviction. Folding a log and keeping the steps gives the whole story; the last
standing is where the chunk is now. Times are event time (`State.clock_ms`), never a clock.
"""

from __future__ import annotations

from typing import Final

import msgspec

from domain.events import (
    ChunkFailed,
    ChunkFileLost,
    ChunkKey,
    ChunkRendered,
    ChunkRequested,
    DomainEvent,
    MemoryPressureChanged,
    Recorded,
    TrackDeleted,
    TrackModified,
)
from domain.plan import MAX_ATTEMPTS, TRANSIENT
from domain.state import DeadlineClass, InFlightStatus, State, TierName
from domain.tiers import chunk_id, playhead_key

#: A probability is shown with this many decimals.
DECIMALS: Final[int] = 3


class Standing(msgspec.Struct, frozen=True, omit_defaults=True):
    """One chunk in one state of the projection."""

    wanted: TierName | None = None  # the tier that wants it
    probability: float | None = None  # that it is needed (of the want, else of the held entry)
    rank: int | None = None  # its place in the render plan, from 1
    deadline: DeadlineClass | None = None  # of its job in the plan
    ahead: bool | None = None  # wanted: whether it is likely enough to be rendered ahead
    render: InFlightStatus | None = None  # a worker has it
    held: TierName | None = None  # ready, in this tier
    bytes: int | None = None  # of its file, when held
    failure: str | None = None  # the reason of its last failure
    attempts: int = 0  # failed renders that used an attempt
    waits: int = 0  # faults of the chunk store in a row (no attempt used)
    retry_at: int | None = None  # event time of the next try after a failure
    given_up: bool = False  # out of attempts: not tried again until the track changes
    requested: bool = False  # the chunk the player asked for last
    waiting: bool = False  # ... and not ready: the player waits on it


class Step(msgspec.Struct, frozen=True):
    """One event of the chunk's story: what changed, in words, and the standing after it."""

    seq: int
    at: int  # event time
    type: str
    mark: str  # the interaction policy's mark ("" when the event applied normally)
    changes: tuple[str, ...]
    standing: Standing


def standing(state: State, key: ChunkKey) -> Standing:
    cache = state.cache
    ident = chunk_id(key)
    want, held = cache.wanted.get(ident), cache.held.get(ident)
    failure, flight = cache.failures.get(ident), cache.inflight.get(ident)
    rank = next((n for n, job in enumerate(cache.plan, 1) if job.key == key), None)
    requested = cache.requested == key
    probability = want.probability if want is not None else held.probability if held else None
    return Standing(
        wanted=want.tier if want is not None else None,
        probability=round(probability, DECIMALS) if probability is not None else None,
        rank=rank,
        deadline=cache.plan[rank - 1].deadline if rank is not None else None,
        ahead=want.render if want is not None else None,
        render=flight.status if flight is not None else None,
        held=held.tier if held is not None else None,
        bytes=held.bytes if held is not None else None,
        failure=failure.reason if failure is not None else None,
        attempts=failure.attempts if failure is not None else 0,
        waits=failure.waits if failure is not None else 0,
        retry_at=failure.retry_at if failure is not None else None,
        given_up=failure is not None and failure.attempts >= MAX_ATTEMPTS,
        requested=requested,
        waiting=requested and cache.waiting,
    )


def step(
    key: ChunkKey, before: Standing, recorded: Recorded, mark: str, after: State
) -> tuple[Step | None, Standing]:
    """The step `recorded` makes in the chunk's story (None when it is not part of it), and the
    chunk's standing after it (to pass as `before` with the next event)."""
    now = standing(after, key)
    event = recorded.event
    named = getattr(event, "key", None) == key
    changes = _changes(before, now, event, after.clock_ms, _unwanted(after, key))
    if not changes and not named:
        return None, now
    if not changes:
        changes = ["no change" + (f" ({mark})" if mark else "")]
    kind = type(event).__name__
    return Step(recorded.seq, after.clock_ms, kind, mark, tuple(changes), now), now


def _changes(was: Standing, now: Standing, event: DomainEvent, at: int, unwanted: str) -> list[str]:
    said = _requested(was, now, event)
    said += _held(was, now, event, unwanted)
    said += _failed(was, now, event, at)
    said += _rendering(was, now, event)
    said += _wanted(was, now, unwanted)
    said += _planned(was, now)
    return said


def _unwanted(state: State, key: ChunkKey) -> str:
    """Why no tier would want the chunk in `state`, as far as the playback tells."""
    playback = state.playback
    track = state.tracks.get(key.track)
    if track is None:
        return "its track is not in the library"
    if track.revision != key.revision:
        return "its track's file changed since (a new revision)"
    if playback.track != key.track:
        return "its track is not the one playing"
    playhead = playhead_key(state, state.clock_ms)
    if playhead is not None and playhead.index > key.index:
        return f"the playhead passed it (chunk {playhead.index} plays)"
    return "not likely enough for any tier's budget"


def _requested(was: Standing, now: Standing, event: DomainEvent) -> list[str]:
    if isinstance(event, ChunkRequested) and now.requested:
        if was.held is not None:
            return [f"asked for by the player: a hit in {was.held}"]
        return ["asked for by the player: a miss, the player waits on it"]
    if was.waiting and not now.waiting and now.held is None:
        return ["no longer waited on"]
    return []


def _held(was: Standing, now: Standing, event: DomainEvent, unwanted: str) -> list[str]:
    if was.held is None and now.held is not None:
        size = f"{now.bytes} bytes" if now.bytes is not None else "its file"
        return [f"rendered: held in {now.held} ({size}, probability {now.probability})"]
    if was.held is not None and now.held is None:
        return [f"dropped from {was.held}: {_why_dropped(now, event, unwanted)}"]
    if was.held is not None and now.held is not None and was.held != now.held:
        if now.wanted is None:
            return [f"moved from {was.held} to {now.held}: kept while there is room, first to go"]
        return [f"moved from {was.held} to {now.held} (probability {now.probability})"]
    return []


def _why_dropped(now: Standing, event: DomainEvent, unwanted: str) -> str:
    if isinstance(event, ChunkFileLost):
        return f"its file was lost or damaged ({event.detail or 'no detail'})"
    if isinstance(event, TrackDeleted):
        return "its track was deleted"
    if isinstance(event, TrackModified):
        return "its track's file changed (a new revision)"
    if isinstance(event, MemoryPressureChanged):
        return f"evicted under {event.level} memory pressure"
    if now.wanted is None:
        return f"evicted: no tier wants it any more ({unwanted})"
    return f"evicted: {now.wanted} is over its budget and keeps more likely chunks"


def _failed(was: Standing, now: Standing, event: DomainEvent, at: int) -> list[str]:
    if isinstance(event, ChunkFailed) and event.reason == "cancelled":
        detail = f": {event.detail}" if event.detail else ""
        return [f"render cancelled{detail}"] if was.render is not None else []
    if now.failure is None:
        return ["failure record cleared"] if was.failure is not None else []
    if (now.attempts, now.waits) == (was.attempts, was.waits):
        return []
    detail = f" ({event.detail})" if isinstance(event, ChunkFailed) and event.detail else ""
    retry = _after(now.retry_at, at)
    if now.failure in TRANSIENT:
        return [
            f"failed: the chunk store could not take it ({now.failure}){detail}; a fault of the "
            f"store, not of the chunk: no attempt used, tried again {retry}"
        ]
    said = f"failed ({now.failure}){detail}: attempt {now.attempts} of {MAX_ATTEMPTS}"
    if now.given_up:
        return [f"{said}; attempts spent: not tried again until the track's file changes"]
    return [f"{said}; tried again {retry}"]


def _after(retry_at: int | None, at: int) -> str:
    if retry_at is None:
        return "when planned"
    return f"after {max(0, retry_at - at) / 1000:g} s (event time {retry_at})"


def _rendering(was: Standing, now: Standing, event: DomainEvent) -> list[str]:
    if was.render == now.render:
        return []
    if now.render == "queued":
        return ["queued for a worker"]
    if now.render == "rendering":
        return ["rendering started"]
    if isinstance(event, ChunkRendered | ChunkFailed):
        return []  # said by the outcome
    return ["no longer rendering"]


def _wanted(was: Standing, now: Standing, unwanted: str) -> list[str]:
    if now.wanted is None:
        return [f"no longer wanted by any tier: {unwanted}"] if was.wanted is not None else []
    said: list[str] = []
    if was.wanted is None:
        said.append(f"wanted by {now.wanted}, probability {now.probability}")
    elif was.wanted != now.wanted:
        moved = f"wanted by {now.wanted} instead of {was.wanted}"
        said.append(f"{moved}, probability {now.probability}")
    behind = now.held is None and now.render is None and now.rank is None
    if behind and now.ahead is False and (was.ahead is not False or was.wanted is None):
        said.append("not rendered ahead: not likely enough this far from the playhead")
    return said


def _planned(was: Standing, now: Standing) -> list[str]:
    if now.rank is None:
        if was.rank is not None and now.render is None and now.held is None:
            return ["taken out of the render plan"]
        return []
    if was.rank is None:
        again = " again: its retry came due" if was.failure is not None else ""
        return [f"planned{again}: job {now.rank} in the render plan ({now.deadline})"]
    if was.deadline != now.deadline:
        return [f"now {now.deadline} in the render plan (job {now.rank})"]
    return []


def summary(now: Standing, at: int) -> str:
    """Where the chunk stands, in one line, at event time `at`."""
    if now.held is not None:
        return f"ready in {now.held} (probability {now.probability})"
    if now.render is not None:
        return f"being rendered ({now.render})"
    if now.given_up:
        return (
            f"failed on every attempt ({now.failure}); not tried again until the track's file "
            "changes"
        )
    if now.failure is not None and now.retry_at is not None and now.retry_at > at:
        return f"failed ({now.failure}); tried again {_after(now.retry_at, at)}"
    if now.rank is not None:
        return f"planned: job {now.rank} in the render plan ({now.deadline})"
    if now.wanted is not None:
        return f"wanted by {now.wanted} but not rendered ahead yet (probability {now.probability})"
    return "not wanted: no tier plans it now"
