from __future__ import annotations

from pathlib import Path

import pytest

from adapters.audio.presets import TrackLevel
from storage.chunks import FileChunkStore


@pytest.fixture
def store(tmp_path: Path) -> FileChunkStore:
    return FileChunkStore(tmp_path / "chunks")


@pytest.fixture
def level() -> TrackLevel:
    return TrackLevel(loudness_db=-16.0, peak=0.9, measured=True)
