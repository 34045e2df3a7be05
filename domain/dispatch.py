"""Which job each free worker takes, and which running job gives its worker up: pure, so the
service's scheduler and the simulator follow the same policy.

- The plan's jobs go first, in plan order (the chunk the player waits on, then L1, L2, L3). A
  track's first job measures its level (a short job); its renders start once the level is known.
- With no worker free, the chunk the player waits on takes the worker of the least urgent running
  job, and any render takes one from the background analysis (cooperative cancellation: the job
  stops at its next checkpoint and its worker is free milliseconds later). Renders the plan no
  longer wants give their workers up to planned jobs.
- The background analysis (one chunk per job) takes free workers last, and never all of them
  when there are several: one is kept for the chunk the player may ask for next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Literal

import msgspec

from domain.events import ChunkKey
from domain.state import State
from domain.tiers import chunk_id

Rank = Literal["waiting", "L1", "L2", "L3", "analysis"]
#: How urgent each kind of job is (lower first).
URGENCY: Final[dict[str, int]] = {"waiting": 0, "L1": 1, "L2": 2, "L3": 3, "analysis": 4}


class Running(msgspec.Struct, frozen=True):
    """A job on a worker: a render or level (`key`), or a chunk of analysis (`track`)."""

    ident: str
    rank: Rank
    key: ChunkKey | None = None
    track: str | None = None
    cancelling: bool = False


class Start(msgspec.Struct, frozen=True):
    kind: Literal["render", "level", "analysis"]
    ident: str
    rank: Rank
    key: ChunkKey | None = None
    track: str | None = None


class Cancel(msgspec.Struct, frozen=True):
    ident: str
    why: str
    preempted: bool = False  # for a more urgent job (else: the plan no longer wants it)


Action = Start | Cancel


def level_ident(key: ChunkKey) -> str:
    return f"level|{key.track}|{key.revision}"


def analysis_ident(track: str) -> str:
    return f"analysis|{track}"


def dispatch(
    state: State,
    running: Sequence[Running],
    idle: int,
    workers: int,
    *,
    levelled: Callable[[ChunkKey], bool],
    analysable: Sequence[str] = (),
) -> list[Action]:
    """What to start on the `idle` workers and what to cancel, given the jobs `running`.

    `levelled(key)`: the track of `key` has its level; `analysable`: tracks to analyse, in
    order (the adapter knows which chunk is next)."""
    actions: list[Action] = []
    busy = {r.ident for r in running}
    actions += _unwanted(state, running, busy, idle)
    for job in state.cache.plan:
        ident = chunk_id(job.key) if levelled(job.key) else level_ident(job.key)
        if ident in busy:
            continue
        if idle <= 0:
            actions += _make_room(running, job.deadline, job.key)
            return actions
        kind: Literal["render", "level"] = "render" if ident == chunk_id(job.key) else "level"
        actions.append(Start(kind, ident, job.deadline, job.key))
        busy.add(ident)
        idle -= 1
    analysing = sum(1 for r in running if r.rank == "analysis")
    room = min(idle, max(1, workers - 1) - analysing)
    for track in analysable:
        if room <= 0:
            break
        ident = analysis_ident(track)
        if ident not in busy:
            actions.append(Start("analysis", ident, "analysis", track=track))
            busy.add(ident)
            room -= 1
    return actions


def _wanted(state: State, key: ChunkKey) -> bool:
    cache = state.cache
    return chunk_id(key) in cache.wanted or (cache.waiting and cache.requested == key)


def _unwanted(state: State, running: Sequence[Running], busy: set[str], idle: int) -> list[Action]:
    """Cancel running renders the plan no longer wants, as many as planned jobs need."""
    needed = sum(1 for job in state.cache.plan if chunk_id(job.key) not in busy) - idle
    out: list[Action] = []
    for job in running:
        if needed <= 0:
            break
        if job.key is not None and not job.cancelling and not _wanted(state, job.key):
            out.append(Cancel(job.ident, "the plan no longer wants it"))
            needed -= 1
    return out


def _make_room(running: Sequence[Running], rank: Rank, key: ChunkKey) -> list[Action]:
    """No idle worker: take the least urgent running job's, if it is less urgent (the chunk the
    player waits on takes any other job's; any render takes the analysis')."""
    if any(r.cancelling for r in running):
        return []  # a worker is already on its way back
    urgency = URGENCY[rank]
    victims = [
        r for r in running if URGENCY[r.rank] > urgency and (urgency == 0 or r.rank == "analysis")
    ]
    if not victims:
        return []
    victim = max(victims, key=lambda r: (URGENCY[r.rank], r.ident))
    why = f"pre-empted by a more urgent job (chunk {key.index})"
    return [Cancel(victim.ident, why, preempted=True)]
