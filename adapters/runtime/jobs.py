"""What runs inside a render worker process. Functions here are imported by reference in the
worker, take only picklable arguments and return events (never raise for bad audio)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from adapters.audio.analysis import analyse_track
from adapters.audio.presets import TrackLevel
from adapters.audio.render import render_chunk
from domain.events import ChunkAnalysed, ChunkFailed, ChunkKey, ChunkRendered, TrackAnalysed
from storage.chunks import FileChunkStore


class RenderSpec(msgspec.Struct, frozen=True):
    source: str  # absolute path the worker reads
    key: ChunkKey
    analysis: TrackAnalysed | None
    cache_root: str
    chunk_seconds: float
    name: str = (
        ""  # how failure details name the file: the library-relative path (default: file name)
    )


class AnalyseSpec(msgspec.Struct, frozen=True):
    source: str
    track: str
    revision: int
    chunk_seconds: float
    name: str = ""  # as in RenderSpec


def display_name(source: str, name: str) -> str:
    return name if name else Path(source).name


def render(spec: RenderSpec) -> ChunkRendered | ChunkFailed:
    level = TrackLevel.of(spec.analysis) if spec.analysis is not None else TrackLevel()
    track_frames = spec.analysis.frames if spec.analysis is not None else None
    return render_chunk(
        Path(spec.source),
        spec.key,
        level,
        FileChunkStore(spec.cache_root),
        track_frames=track_frames or None,
        chunk_seconds=spec.chunk_seconds,
        name=display_name(spec.source, spec.name),
    )


def analyse(spec: AnalyseSpec) -> list[ChunkAnalysed | TrackAnalysed]:
    return analyse_track(
        Path(spec.source),
        spec.track,
        spec.revision,
        chunk_seconds=spec.chunk_seconds,
        name=display_name(spec.source, spec.name),
    )


def warm_up() -> None:
    """Nothing: calling it starts a worker process and imports this module (numpy, scipy,
    soundfile) before the first real job needs it."""
