"""`tierbuffer demo`: the real service on a small library, driven by a scripted listener.

The listener goes through the same `Player` interface a music player uses (the HTTP API wraps
it): it changes track, plays chunk after chunk (asking for each one, reporting its position),
switches presets, changes intensity and seeks. Playback runs `speed` times faster than real time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

import anyio
import msgspec

from adapters.runtime.player import ChunkResult, Player
from adapters.runtime.service import Service
from domain.events import (
    DomainEvent,
    IntensityChanged,
    NextTrackQueued,
    PositionReported,
    PresetChanged,
    Seeked,
    Stopped,
    TrackChanged,
)
from domain.tiers import chunk_count
from storage.location import Location

CHUNK_MS = 30_000
REPORTS_PER_CHUNK = 6


class Step(msgspec.Struct, frozen=True):
    """Before playing chunk `chunk` of the track: these interactions."""

    chunk: int
    actions: tuple[DomainEvent, ...] = ()


# Per track (in library order): the steps of the scripted session; chunks not listed play in turn.
SCRIPT: tuple[tuple[Step, ...], ...] = (
    (Step(0, (PresetChanged(preset="adaptive"),)), Step(1, (PresetChanged(preset="warm"),))),
    (Step(0), Step(1, (PresetChanged(preset="bright"),)), Step(2, (Seeked(position_ms=60_000),))),
    (Step(0), Step(1, (PresetChanged(preset="warm"),))),
    (
        Step(0),
        Step(1, (IntensityChanged(intensity=0.8),)),
        Step(2, (PresetChanged(preset="punchy"),)),
    ),
)


class DemoTally(msgspec.Struct):
    requests: int = 0
    hits: dict[str, int] = msgspec.field(default_factory=dict)
    waited: int = 0
    waited_ms: int = 0
    not_ready: int = 0


async def play_session(service: Service, out: TextIO, *, speed: float, wait_s: float) -> DemoTally:
    player = service.player
    tally = DemoTally()
    state = service.app.state
    tracks = sorted(state.tracks.items(), key=lambda item: item[1].path)
    for number, ((track_id, track), steps) in enumerate(zip(tracks, SCRIPT, strict=False), 1):
        await player.interact(TrackChanged(track=track_id))
        chunks = chunk_count(track.duration_ms)
        actions = {step.chunk: step.actions for step in steps}
        index = 0
        upcoming = tracks[number][0] if number < len(tracks) else None
        while index < chunks:
            if index == chunks - 1 and upcoming is not None:
                await player.interact(NextTrackQueued(track=upcoming))  # the player's queue
            for action in actions.get(index, ()):
                await player.interact(action)
                if isinstance(action, Seeked):
                    index = action.position_ms // CHUNK_MS
            result = await player.chunk(index, wait_s=wait_s)
            _count(tally, result)
            out.write(_line(service, number, len(tracks), track.path, index, chunks, result))
            await _listen(player, index, speed)
            index += 1
    await player.interact(Stopped())
    return tally


def _count(tally: DemoTally, result: ChunkResult) -> None:
    tally.requests += 1
    if result.status == "hit":
        tier = result.tier or "?"
        tally.hits[tier] = tally.hits.get(tier, 0) + 1
    elif result.status == "rendered":
        tally.waited += 1
        tally.waited_ms += result.waited_ms
    else:
        tally.not_ready += 1


def _line(
    service: Service,
    number: int,
    tracks: int,
    path: str,
    index: int,
    chunks: int,
    result: ChunkResult,
) -> str:
    key = result.key
    sound = f"{key.preset} {key.intensity_tenths / 10:.1f}" if key is not None else "-"
    if result.status == "hit":
        what = f"hit ({result.tier})"
    elif result.status == "rendered":
        what = f"waited {result.waited_ms} ms"
    else:
        what = f"NOT READY ({result.detail})"
    done = service.scheduler.outcomes.rendered
    running = len(service.scheduler.running)
    return (
        f"track {number}/{tracks} {Path(path).stem[:22]:<22} chunk {index + 1}/{chunks} "
        f"[{sound}]: {what:<18} renders done {done}, running {running}\n"
    )


async def _listen(player: Player, index: int, speed: float) -> None:
    """Play chunk `index` at `speed`× real time, reporting the position as a player does."""
    step_ms = CHUNK_MS // REPORTS_PER_CHUNK
    for k in range(1, REPORTS_PER_CHUNK + 1):
        await anyio.sleep(step_ms / 1000 / speed)
        await player.interact(PositionReported(position_ms=index * CHUNK_MS + k * step_ms))


def report(service: Service, tally: DemoTally, started: float, db: Location) -> str:
    state = service.app.state
    outcomes = service.scheduler.outcomes
    rendered = outcomes.rendered
    failed = outcomes.failed
    hits = " / ".join(f"{tally.hits.get(t, 0)}" for t in ("L1", "L2", "L3"))
    served = sum(tally.hits.values())
    share = served / tally.requests if tally.requests else 0.0
    mean_wait = tally.waited_ms // tally.waited if tally.waited else 0
    files = list(service.chunks.files())
    size = sum((service.chunks.root / f).stat().st_size for f in files)
    failures = ", ".join(f"{k} {v}" for k, v in sorted(failed.items())) or "none"
    rows = [
        ("chunk requests", f"{tally.requests}"),
        ("hits L1 / L2 / L3", f"{hits}  ({share:.0%} served without waiting)"),
        ("waited for a render", f"{tally.waited} (mean {mean_wait} ms)"),
        ("not ready in time", f"{tally.not_ready}"),
        ("renders", f"{rendered} chunks rendered; failed or stopped: {failures}"),
        ("log", f"{db} ({state.seq} events)"),
        ("chunks", f"{service.chunks.root} ({len(files)} files, {size / 1e6:.1f} MB)"),
        ("took", f"{time.perf_counter() - started:.1f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = ["", *(f"  {name:<{width}}  {value}" for name, value in rows), ""]
    lines += [
        "look inside:",
        f"  tierbuffer --db {db} log --type ChunkRequested",
        f"  tierbuffer --db {db} state",
        f"  tierbuffer --db {db} verify",
    ]
    return "\n".join(lines) + "\n"
