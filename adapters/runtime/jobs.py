"""What runs inside a render worker process. Functions here are called by reference
(``"adapters.runtime.jobs:render"``), take picklable arguments and return events: they never
raise for bad audio (a failure is an outcome), only for bugs and a cancellation.
"""

from __future__ import annotations

from pathlib import Path

from adapters.audio.analysis import analyse_chunk
from adapters.audio.errors import AudioReadError
from adapters.audio.level import measure_level
from adapters.audio.presets import TrackLevel
from adapters.audio.render import render_chunk
from adapters.runtime.specs import AnalyseSpec, RenderSpec
from domain.events import ChunkFailed, ChunkRendered, TrackLevelled
from domain.loudness import ChunkMeasure
from domain.state import Level
from storage.chunks import FileChunkStore

RenderOutcome = list[TrackLevelled | ChunkRendered | ChunkFailed]


def render(spec: RenderSpec) -> RenderOutcome:
    """The chunk, rendered at the track's level; measured first when the track has none yet
    (then the `TrackLevelled` event comes before the chunk's outcome)."""
    found: RenderOutcome = []
    level = spec.level
    if level is None:
        try:
            loudness, peak = measure_level(spec.source, name=display_name(spec))
        except AudioReadError as e:
            return [ChunkFailed(spec.key, e.failure_reason, str(e))]
        key = spec.key
        found.append(TrackLevelled(key.track, key.revision, loudness, peak))
        level = Level(loudness, peak)
    outcome = render_chunk(
        Path(spec.source),
        spec.key,
        TrackLevel.of(level.loudness_db, level.peak),
        FileChunkStore(spec.cache_root),
        track_frames=spec.track_frames,
        chunk_seconds=spec.chunk_seconds,
        name=display_name(spec),
    )
    return [*found, outcome]


def level(spec: RenderSpec) -> list[TrackLevelled | ChunkFailed]:
    """The track's level, measured before its first render (a file that cannot be read fails
    the chunk asked for, with the reason)."""
    try:
        loudness, peak = measure_level(spec.source, name=display_name(spec))
    except AudioReadError as e:
        return [ChunkFailed(spec.key, e.failure_reason, str(e))]
    return [TrackLevelled(spec.key.track, spec.key.revision, loudness, peak)]


def analyse(spec: AnalyseSpec) -> ChunkMeasure:
    return analyse_chunk(
        spec.source,
        spec.track,
        spec.revision,
        spec.index,
        chunk_seconds=spec.chunk_seconds,
        name=display_name(spec),
    )


def display_name(spec: RenderSpec | AnalyseSpec) -> str:
    """How failure details name the file: its library-relative path, never the absolute one."""
    return spec.name or Path(spec.source).name
