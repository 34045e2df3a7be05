"""`explain`: a chunk's story from the log (`domain.explain`), for the CLI and the HTTP API.

The log is folded from its start (or from `after`, beginning with the state a valid snapshot
gives there), every event verified against the chain before it is folded, exactly as `log`
does; each event that names the chunk or changes its standing is a step. The chunk is given by
its key, or by its index in the playing track, resolved against the log's newest state.
"""

from __future__ import annotations

from collections import deque
from typing import Final

import msgspec

from adapters.audit.export import marked_rows, state_before
from adapters.errors import AdapterError
from domain.events import ChunkKey
from domain.explain import Standing, Step, standing, step, summary
from domain.tiers import current_key
from storage.log import Log

#: At most this many steps are kept (the newest); the rest are counted in `omitted`.
MAX_STEPS: Final[int] = 1_000


class ExplainError(AdapterError):
    """Nothing to explain: `index` is no chunk of the playing track (or nothing plays)."""

    def __init__(self, index: int) -> None:
        super().__init__(f"chunk {index}: nothing is playing, or the track has no chunk {index}")
        self.index = index


class Explanation(msgspec.Struct, frozen=True):
    key: ChunkKey
    after: int  # the story starts after this sequence number
    last: int  # ... and ends with this one
    steps: list[Step]
    omitted: int  # older steps left out (beyond MAX_STEPS)
    now: Standing
    summary: str


async def chunk_key_for(log: Log, target: ChunkKey | int) -> ChunkKey:
    """`target` itself, or chunk `target` of the playing track in the log's newest state."""
    if isinstance(target, ChunkKey):
        return target
    state = await state_before(log, await log.events.last_seq())
    key = current_key(state, target)
    if key is None:
        raise ExplainError(target)
    return key


async def explain_chunk(log: Log, target: ChunkKey | int, *, after: int = 0) -> Explanation:
    key = await chunk_key_for(log, target)
    after = min(after, await log.events.last_seq())  # past the end: nothing more to tell
    state = await state_before(log, after)
    was = standing(state, key)
    steps: deque[Step] = deque(maxlen=MAX_STEPS)
    seen = 0
    async for _, recorded, mark, folded in marked_rows(log, after=after, state=state):
        state = folded
        found, was = step(key, was, recorded, mark, folded)
        if found is not None:
            steps.append(found)
            seen += 1
    return Explanation(
        key, after, state.seq, list(steps), seen - len(steps), was, summary(was, state.clock_ms)
    )
