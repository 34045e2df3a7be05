from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.audio import write_track


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """Two music-like tracks: FLAC and WAV."""
    root = tmp_path / "library"
    write_track(root / "one.flac", 65.0, seed=0)
    write_track(root / "two.wav", 40.0, seed=1)
    return root
