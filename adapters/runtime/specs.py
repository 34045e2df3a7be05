"""What the service sends its worker processes: which function, and the job's description.

Light on purpose: the service imports this, the workers import the functions (`jobs`), so the
service process never loads the DSP code to describe a job.
"""

from __future__ import annotations

from typing import Final

import msgspec

from domain.events import ChunkKey
from domain.state import Level

RENDER: Final = "adapters.runtime.jobs:render"
ANALYSE: Final = "adapters.runtime.jobs:analyse"
LEVEL: Final = "adapters.runtime.jobs:level"


class RenderSpec(msgspec.Struct, frozen=True):
    source: str  # the absolute path the worker reads
    key: ChunkKey
    level: Level | None  # None: the track's first render measures it (and records it)
    track_frames: int | None
    cache_root: str
    chunk_seconds: float
    name: str = ""  # how failure details name the file: its library-relative path


class AnalyseSpec(msgspec.Struct, frozen=True):
    source: str
    track: str
    revision: int
    index: int
    chunk_seconds: float
    name: str = ""  # as in RenderSpec
