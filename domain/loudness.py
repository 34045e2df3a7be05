"""Integrated loudness (ITU-R BS.1770-4) from the mean squares of consecutive 100 ms steps.

The audio adapter K-weights the samples and sums the channels' mean squares per 100 ms step; here
the steps become 400 ms gating blocks with 75 % overlap, gated absolutely at -70 LUFS and then
10 LU below the mean of the blocks that passed. Pure, so a track measured piece by piece (a
chunk per job) integrates to what one pass over the whole file gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt

from domain.events import ChunkAnalysed, FrameSpan

SILENT_LUFS: Final = -70.0


class ChunkMeasure(msgspec.Struct, frozen=True):
    """One chunk of a track measured on its own (one background job): its content features and
    what the track's measurement needs from it, to be added up over the chunks in order."""

    features: ChunkAnalysed
    steps: list[float]  # K-weighted mean squares of its 100 ms steps, channels summed
    peak: float
    frames: int  # of the track's timeline, damaged spans included
    sanitised: int
    ended: bool  # the audio ends in this chunk: the track is measured once this one is added
    damaged: tuple[FrameSpan, ...] = ()  # spans that did not decode (zeros on the timeline)
    failed: bool = False  # the decoder reported an error in this chunk

    @property
    def decodable(self) -> int:
        return self.frames - sum(span.frames for span in self.damaged)


def lufs(mean_square: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = -0.691 + 10.0 * np.log10(np.maximum(mean_square, 1e-20))
    return out


def gated_loudness(steps: Sequence[float] | npt.NDArray[np.float64]) -> float | None:
    """LUFS, or None when nothing passes the absolute gate (silence, or under 400 ms)."""
    power = np.asarray(steps, dtype=np.float64)
    if power.size < 4:
        return None
    blocks = (power[:-3] + power[1:-2] + power[2:-1] + power[3:]) / 4.0
    blocks = blocks[lufs(blocks) > SILENT_LUFS]
    if blocks.size == 0:
        return None
    relative = lufs(np.asarray([blocks.mean()]))[0] - 10.0
    gated = blocks[lufs(blocks) > relative]
    return float(lufs(np.asarray([gated.mean()]))[0])


def merged(spans: Sequence[FrameSpan]) -> tuple[FrameSpan, ...]:
    """Adjacent spans (one damaged stretch met by two reads) as one."""
    out: list[FrameSpan] = []
    for span in spans:
        if out and out[-1].start + out[-1].frames == span.start:
            out[-1] = FrameSpan(out[-1].start, out[-1].frames + span.frames)
        else:
            out.append(span)
    return tuple(out)
