"""Two reference policies on the same listening traces, with the same worker and byte budget.

- read-ahead: renders only the current preset from the playing chunk on (c..c+9), the chunk the
  player waits on first, and evicts the least recently used chunk outside that window first;
- offline optimum (Belady-style): knows every future request; the worker always renders the
  earliest-needed chunk not yet held, and makes room by evicting the held chunk whose next use is
  furthest away — never one needed before the chunk it would render.

Neither is a domain policy; both exist to put the projection's figures in perspective.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Final

from adapters.sim.simulator import DEFAULT_RENDER_MS, Figures
from adapters.sim.trace import Trace
from domain.events import ChunkKey, Fingerprint, Preset
from domain.state import MB, Track
from domain.tiers import chunk_count, chunk_id, estimate_chunk_bytes

TOTAL_BUDGET: Final[int] = (18 + 36 + 45) * MB
READ_AHEAD: Final[int] = 10

Request = tuple[int, str, int]  # at, chunk id, bytes


def _sizes(trace: Trace) -> dict[str, tuple[int, int, int]]:
    """Per track: duration, sample rate, channels."""
    return {s.track: (s.duration_ms, s.sample_rate, s.channels) for s in trace.library}


def _size(trace_sizes: dict[str, tuple[int, int, int]], track: str, index: int) -> int:
    duration, rate, channels = trace_sizes[track]
    spec = Track("", Fingerprint(0, 0, ""), duration, rate, channels)
    return estimate_chunk_bytes(spec, index)


def _ident(track: str, preset: Preset, index: int) -> str:
    return chunk_id(ChunkKey(track, 0, preset, 5, index))


def requests_of(trace: Trace) -> list[Request]:
    sizes = _sizes(trace)
    return [
        (s.at, _ident(s.track, s.preset, s.index), _size(sizes, s.track, s.index))
        for s in trace.steps
        if s.kind == "request"
    ]


def run_readahead(
    trace: Trace, render_ms: int = DEFAULT_RENDER_MS, budget: int = TOTAL_BUDGET
) -> Figures:
    sizes = _sizes(trace)
    held: dict[str, tuple[int, int, int]] = {}  # id -> bytes, last used, ready at
    rendered: set[str] = set()
    requested: set[str] = set()
    waiting: tuple[str, Preset, int] | None = None
    track, index = "", 0
    preset: Preset = "adaptive"
    free_at, waited, requests = 0, 0, 0

    def window() -> list[tuple[str, Preset, int]]:
        count = chunk_count(sizes[track][0]) if track else 0
        return [(track, preset, i) for i in range(index, min(count, index + READ_AHEAD))]

    def advance(until: int) -> None:
        nonlocal free_at, waiting
        while free_at <= until:
            wanted = ([waiting] if waiting else []) + window()
            todo = [w for w in wanted if _ident(*w) not in held]
            if not todo:
                free_at = until
                return
            job = todo[0]
            waiting = None if job == waiting else waiting
            ident, size = _ident(*job), _size(sizes, job[0], job[2])
            keep = {_ident(*w) for w in wanted}
            total = sum(b for b, _, _ in held.values())
            order = sorted(held, key=lambda i: (i in keep, held[i][1], i))
            while total + size > budget and order:
                victim = order.pop(0)
                total -= held.pop(victim)[0]
            free_at += render_ms
            held[ident] = (size, free_at, free_at)
            rendered.add(ident)

    for step in trace.steps:
        advance(step.at)
        if step.kind == "track":
            track, index = step.track, 0
        elif step.kind == "preset":
            preset = step.preset
        elif step.kind == "request":
            requests += 1
            index = step.index
            ident = _ident(step.track, step.preset, step.index)
            requested.add(ident)
            entry = held.get(ident)
            if entry is None or entry[2] > step.at:
                waited += 1
                if entry is None:
                    waiting = (step.track, step.preset, step.index)
            else:
                held[ident] = (entry[0], step.at, entry[2])
        free_at = max(free_at, step.at)
    return Figures(requests, waited, (0, 0, 0), len(rendered), len(rendered - requested), None)


def run_optimum(
    trace: Trace, render_ms: int = DEFAULT_RENDER_MS, budget: int = TOTAL_BUDGET
) -> Figures:
    reqs = requests_of(trace)
    uses: dict[str, list[int]] = {}
    for n, (_, ident, _) in enumerate(reqs):
        uses.setdefault(ident, []).append(n)
    held: dict[str, tuple[int, int]] = {}  # id -> bytes, ready at
    rendered: set[str] = set()
    total, free_at, waited = 0, 0, 0

    def next_use(ident: str, after: int) -> int:
        positions = uses[ident]
        k = bisect_left(positions, after)
        return positions[k] if k < len(positions) else len(reqs) + 1

    def advance(until: int, current: int) -> None:
        nonlocal total, free_at
        while free_at <= until:
            job = next((j for j in range(current, len(reqs)) if reqs[j][1] not in held), None)
            if job is None:
                free_at = until
                return
            _, ident, size = reqs[job]
            while total + size > budget:
                victim = max(held, key=lambda i: (next_use(i, current), i))
                if next_use(victim, current) <= job:
                    free_at = until
                    return
                total -= held.pop(victim)[0]
            free_at += render_ms
            held[ident] = (size, free_at)
            total += size
            rendered.add(ident)

    for n, (at, ident, _) in enumerate(reqs):
        advance(at, n)
        entry = held.get(ident)
        if entry is None or entry[1] > at:
            waited += 1
        free_at = max(free_at, at)
    requested = {ident for _, ident, _ in reqs}
    return Figures(len(reqs), waited, (0, 0, 0), len(rendered), len(rendered - requested), None)
