"""The running service on a small generated library: real SQLite, real worker processes.

Tracks are short (16 kHz mono, 40–70 s: two or three 30 s chunks, rendered in milliseconds), so
the time goes to the service itself. Waits are on the folded state with a deadline, never sleeps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import anyio
import pytest

from adapters.library.scan import scan
from adapters.runtime.scheduler import SchedulerConfig
from adapters.runtime.service import Service, ServiceConfig
from domain.events import (
    ChunkFailed,
    ChunkKey,
    ChunkRendered,
    ChunkRenderStarted,
    DomainEvent,
    TrackChanged,
)
from domain.state import State
from domain.tiers import chunk_id
from storage.chunks import track_folder
from tests.support.audio import write_track

RATE: Final = 16_000
#: Generous: CI is a loaded two-core machine. A healthy run meets each wait in well under 5 s.
DEADLINE_S: Final = 45.0
TRACKS: Final = (("a.flac", 70.0), ("b.wav", 45.0))


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    for seed, (name, seconds) in enumerate(TRACKS):
        write_track(root / name, seconds, seed=seed)
    return root


ConfigMaker = Callable[..., ServiceConfig]


@pytest.fixture
def make_config(tmp_path: Path, library: Path) -> ConfigMaker:
    """A service configuration in `tmp_path`; keyword arguments go to `SchedulerConfig`,
    except `watch_library`, `monitor_memory` and `snapshot_every` (off/off/default)."""

    def make(**options: Any) -> ServiceConfig:
        service_options = {
            name: options.pop(name)
            for name in ("watch_library", "monitor_memory", "snapshot_every", "memory_interval_s")
            if name in options
        }
        service_options.setdefault("watch_library", False)
        service_options.setdefault("monitor_memory", False)
        return ServiceConfig(
            db=tmp_path / "tierbuffer.db",
            library=library,
            cache_dir=tmp_path / "chunks",
            scheduler=SchedulerConfig(**options),
            **service_options,
        )

    return make


async def until(
    service: Service, predicate: Callable[[State], bool], deadline_s: float = DEADLINE_S
) -> State:
    with anyio.fail_after(deadline_s):
        return await service.app.until(predicate)


async def add_library(service: Service) -> dict[str, str]:
    """Scan the library into the log, as the watcher would at start; track ids by path."""
    app = service.app
    found = await scan(service.config.library, app.state, now_ms=app.clock, new_id=app.new_id)
    seqs = await app.append(found.events)
    state = await until(service, lambda s: s.seq >= max(seqs))
    return {track.path: track_id for track_id, track in state.tracks.items()}


async def play(service: Service, track: str, **kwargs: Any) -> State:
    """Change to `track`; the state once the change is folded (its plan made)."""
    seq = await service.player.interact(TrackChanged(track=track, **kwargs))
    return await service.app.until_seq(seq)


async def logged(service: Service, *types: type[DomainEvent]) -> list[Any]:
    names = {t.__name__ for t in types}
    return [r.event async for r in service.app.log.events.read(types=names)]


def held_ids(state: State, track: str | None = None) -> set[str]:
    return {i for i, h in state.cache.held.items() if track is None or h.key.track == track}


def all_held(idents: Sequence[str] | set[str]) -> Callable[[State], bool]:
    return lambda s: all(i in s.cache.held for i in idents)


def idle(state: State) -> bool:
    """Nothing planned and nothing in flight: the service has done what the plan asks."""
    return not state.cache.plan and not state.cache.inflight


def sha256_checksum(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chunk_files(service: Service) -> set[str]:
    return set(service.chunks.files())


def key_of(state: State, track: str, index: int, preset: str | None = None) -> ChunkKey:
    playback = state.playback
    return ChunkKey(
        track,
        state.tracks[track].revision,
        (preset or playback.preset),  # type: ignore[arg-type]
        playback.intensity_tenths,
        index,
    )


def ident(state: State, track: str, index: int, preset: str | None = None) -> str:
    return chunk_id(key_of(state, track, index, preset))


async def until_logged(
    service: Service, match: Callable[[list[Any]], bool], deadline_s: float = DEADLINE_S
) -> list[Any]:
    """Wait until the folded events satisfy `match` (for events the fold ignores); the
    listeners (the janitor) have then seen them too."""
    app = service.app
    with anyio.fail_after(deadline_s):
        while True:
            seq = app.state.seq
            events = [r.event async for r in app.log.events.read() if r.seq <= seq]
            if match(events):
                return events
            await app.changed(seq)


def renders_settled(track: str, revision: int | None = None) -> Callable[[list[Any]], bool]:
    """Every render of `track` (at `revision`) that started has its outcome in the log: no job
    of it can still write a chunk file."""

    def ours(key: ChunkKey) -> bool:
        return key.track == track and revision in (None, key.revision)

    def match(events: list[Any]) -> bool:
        started = [e.key for e in events if isinstance(e, ChunkRenderStarted)]
        ended = [e.key for e in events if isinstance(e, ChunkRendered | ChunkFailed)]
        return all(ended.count(k) >= started.count(k) for k in started if ours(k))

    return match


def files_of(service: Service, track: str) -> set[str]:
    folder = track_folder(track) + "/"
    return {f for f in chunk_files(service) if f.startswith(folder)}
