"""`tierbuffer demo`: the real service on a small library, driven by a scripted listener.

The listener goes through the same `Player` interface a music player uses (the HTTP API wraps
it): it changes track, plays chunk after chunk (asking for each one, reporting its position),
switches presets, changes intensity and seeks. Playback runs `speed` times faster than real time.

Each session starts from the same sound (adaptive at 0.5), so a second demo on the same log plays
the same script. On a real library it plays the first tracks (in path order) that are at least a
minute long. The final table is a list of rows: the session's figures from the log (the same
rows `tierbuffer report` shows), then the demo's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import anyio
import msgspec
import psutil

from adapters.audit.stats import Row
from adapters.demo import MIN_TRACK_MS
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
from domain.state import State, Track
from domain.tiers import chunk_count

CHUNK_MS = 30_000
REPORTS_PER_CHUNK = 6
NAME_WIDTH = 22


class Step(msgspec.Struct, frozen=True):
    """Before playing chunk `chunk` of the track: these interactions."""

    chunk: int
    actions: tuple[DomainEvent, ...] = ()


# Per track (in library order): the steps of the scripted session; chunks not listed play in turn.
SCRIPT: tuple[tuple[Step, ...], ...] = (
    (
        Step(0, (PresetChanged(preset="adaptive"), IntensityChanged(intensity=0.5))),
        Step(1, (PresetChanged(preset="warm"),)),
    ),
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
    waits_ms: list[int] = msgspec.field(default_factory=list)
    first_ms: dict[str, list[int]] = msgspec.field(default_factory=dict)  # by file extension
    listened_ms: int = 0
    cpu_s: float = 0.0


def playable(state: State) -> list[tuple[str, Track]]:
    """The tracks the demo plays: the first of at least a minute, in path order."""
    tracks = sorted(state.tracks.items(), key=lambda item: item[1].path)
    return [(i, t) for i, t in tracks if t.duration_ms >= MIN_TRACK_MS][: len(SCRIPT)]


async def play_session(service: Service, out: TextIO, *, speed: float, wait_s: float) -> DemoTally:
    player = service.player
    tally = DemoTally()
    cpu_before = worker_cpu_s()
    tracks = playable(service.app.state)
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
            state = await service.app.settled()
            out.write(_asking(state, number, len(tracks), track.path, index, chunks))
            out.flush()  # the line is there while the chunk is waited on
            result = await player.chunk(index, wait_s=wait_s)
            _count(tally, result)
            if result.key is not None and result.key.index == index and index == 0:
                ext = Path(track.path).suffix.lstrip(".") or "?"
                tally.first_ms.setdefault(ext, []).append(result.waited_ms)
            tally.listened_ms += min(CHUNK_MS, track.duration_ms - index * CHUNK_MS)
            out.write(_answer(service, result))
            await _listen(player, index, speed)
            index += 1
    await player.interact(Stopped())
    tally.cpu_s = worker_cpu_s() - cpu_before
    return tally


def worker_cpu_s() -> float:
    """CPU seconds of this process and its children (the render workers) so far."""
    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return total


def _count(tally: DemoTally, result: ChunkResult) -> None:
    tally.requests += 1
    if result.status == "hit":
        tier = result.tier or "?"
        tally.hits[tier] = tally.hits.get(tier, 0) + 1
    elif result.status == "rendered":
        tally.waited += 1
        tally.waited_ms += result.waited_ms
        tally.waits_ms.append(result.waited_ms)
    else:
        tally.not_ready += 1


def _asking(state: State, number: int, tracks: int, path: str, index: int, chunks: int) -> str:
    """The start of a chunk's line, in fixed-width columns: track, chunk, preset and intensity."""
    playback = state.playback
    sound = f"{playback.preset:<8} {playback.intensity_tenths / 10:.1f}"
    name = Path(path).stem[:NAME_WIDTH]
    return (
        f"track {number}/{tracks} {name:<{NAME_WIDTH}} chunk {index + 1:>2}/{chunks:<2} {sound}  "
    )


def _answer(service: Service, result: ChunkResult) -> str:
    if result.status == "hit":
        what = f"hit ({result.tier})"
    elif result.status == "rendered":
        what = f"waited {result.waited_ms:>5} ms"
    else:
        what = f"NOT READY ({result.detail})"
    done = service.scheduler.outcomes.rendered
    running = len(service.scheduler.running)
    return f"{what:<18} renders done {done:>3}, running {running}\n"


async def _listen(player: Player, index: int, speed: float) -> None:
    """Play chunk `index` at `speed`× real time, reporting the position as a player does."""
    step_ms = CHUNK_MS // REPORTS_PER_CHUNK
    for k in range(1, REPORTS_PER_CHUNK + 1):
        await anyio.sleep(step_ms / 1000 / speed)
        await player.interact(PositionReported(position_ms=index * CHUNK_MS + k * step_ms))


def demo_rows(tally: DemoTally, wait_s: float) -> list[Row]:
    """What the listener saw that the log does not say: how long the first chunk of a track took
    by codec, requests given up on, and the CPU the service spent per listened minute."""
    first = ", ".join(f"{ext} {max(ms)} ms" for ext, ms in sorted(tally.first_ms.items()))
    minutes = tally.listened_ms / 60_000
    cpu = f"{tally.cpu_s / minutes:.1f} CPU s per listened minute" if minutes else "-"
    return [
        ("first chunk of a track (max)", first or "-"),
        (f"gave up waiting ({wait_s:g} s)", str(tally.not_ready)),
        ("work", cpu),
    ]
