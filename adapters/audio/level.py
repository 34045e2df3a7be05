"""The level a track is rendered with, measured on a fixed sample of the file in well under a
second, so the first chunk of a never-played track does not wait for the whole track's analysis.

Every chunk of a track must be rendered with the same parameters (compressor thresholds and the
adaptive gain are relative to the track's loudness) for chunks to join without level jumps. The
level is therefore measured once per file revision, before the first render, on windows at fixed
positions: a short track whole, a longer one as `WINDOWS` windows of `WINDOW_S` seconds spread
evenly over the length the header states. The positions depend only on the file, so two renders
that measure it at the same time get the same level, and a replay of the log renders the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np

from adapters.audio import cancel
from adapters.audio.analysis import LoudnessMeter
from adapters.audio.decode import AudioReader, open_audio
from domain.loudness import SILENT_LUFS

WINDOWS: Final = 12
WINDOW_S: Final = 3.0
WHOLE_BELOW_S: Final = WINDOWS * WINDOW_S * 2.5  # shorter tracks are measured whole


def measure_level(path: Path | str, *, name: str | None = None) -> tuple[float, float]:
    """(loudness in LUFS, sample peak) of the sample; silence measures `SILENT_LUFS`. `name`
    names the file in errors (default: its file name)."""
    with open_audio(path, name=name) as reader:
        meter = LoudnessMeter(reader.info.sample_rate, reader.info.channels)
        peak = 0.0
        for start, count in _windows(reader):
            reader.seek(start)
            decoded = reader.read(count)
            samples = decoded.decodable()
            if samples.shape[0]:
                meter.feed(samples)
                peak = max(peak, float(np.abs(samples).max()))
            cancel.checkpoint()
            if decoded.ended:
                break
    loudness = meter.loudness_db()
    return (SILENT_LUFS if loudness is None else loudness), peak


def _windows(reader: AudioReader) -> list[tuple[int, int]]:
    rate = reader.info.sample_rate
    total = reader.info.declared_frames
    if total is None or total <= WHOLE_BELOW_S * rate:
        return [(0, total if total is not None else int(WHOLE_BELOW_S * rate))]
    width = int(WINDOW_S * rate)
    spacing = (total - width) // (WINDOWS - 1)
    return [(k * spacing, width) for k in range(WINDOWS)]
