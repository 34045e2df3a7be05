"""What a decode returns: the header's facts, the samples, what was sanitised, what was damaged.

Headroom: decoded audio is float and keeps samples beyond full scale. Lossy decoders produce them
legitimately (a master limited at 0 dBFS decodes with overs: measured up to +3 dBFS on Opus, MP3
and Vorbis); they are signal, and the presets' limiter brings them under the ceiling without
clipping. Only what cannot be audio is sanitised, to 0: NaN, +-Inf, and magnitudes above
`ABSURD_LEVEL` (+18 dBFS, six times the largest over measured on real files; a damaged MP3 frame
decoded to 3776.9, +71 dBFS).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from domain.events import FrameSpan

Samples = npt.NDArray[np.float32]

ABSURD_LEVEL: Final = 8.0  # +18 dBFS: above this a decoded sample is garbage, not an over


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What the file's header says; `declared_frames` is None when it is not a real count."""

    path: Path
    format: str
    subtype: str
    sample_rate: int
    channels: int
    declared_frames: int | None

    @property
    def length_tolerance(self) -> int:
        """How far the real length may fall short of the header's before the file is truncated."""
        if self.format == "MP3":  # without a Xing/LAME tag the count is a bitrate estimate
            return max(4 * 1152, (self.declared_frames or 0) // 100)
        return 0


@dataclass(frozen=True, slots=True)
class Sanitised:
    """What sanitising a read found: garbage zeroed (non-finite, absurd), overs kept."""

    non_finite: int = 0
    absurd: int = 0  # finite samples beyond ABSURD_LEVEL, zeroed
    overs: int = 0  # samples beyond full scale that were kept (headroom)
    peak: float = 0.0  # largest |sample| kept

    def __add__(self, other: Sanitised) -> Sanitised:
        return Sanitised(
            self.non_finite + other.non_finite,
            self.absurd + other.absurd,
            self.overs + other.overs,
            max(self.peak, other.peak),
        )

    @property
    def zeroed(self) -> int:
        return self.non_finite + self.absurd

    @property
    def changed(self) -> bool:
        return self.zeroed > 0


def sanitise(block: Samples) -> Sanitised:
    """Zero NaN, +-Inf and absurd magnitudes in place; keep overs; count both."""
    if block.size == 0:
        return Sanitised()
    high, low = float(block.max()), float(block.min())
    if -1.0 <= low and high <= 1.0:  # NaN fails both comparisons, so it takes the slow path
        return Sanitised(peak=max(high, -low))
    magnitude = np.abs(block)
    if -ABSURD_LEVEL <= low and high <= ABSURD_LEVEL:
        return Sanitised(overs=int(np.count_nonzero(magnitude > 1.0)), peak=max(high, -low))
    finite = np.isfinite(block)
    non_finite = int(block.size - np.count_nonzero(finite))
    garbage = ~finite | (magnitude > ABSURD_LEVEL)
    absurd = int(np.count_nonzero(garbage)) - non_finite
    block[garbage] = 0.0
    magnitude[garbage] = 0.0
    return Sanitised(
        non_finite, absurd, int(np.count_nonzero(magnitude > 1.0)), float(magnitude.max())
    )


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """Frames [start, start + frames) of a file's timeline as float32 (frames, channels).

    Damaged spans (where the decoder lost sync and decoding resumed after the damage) are in
    `damaged`, in the file's timeline, and hold zeros in `samples`; `error` names the first
    decoder error met.
    """

    info: AudioInfo
    start: int
    requested: int
    samples: Samples
    ended: bool  # the stream ended inside the request: there is nothing after this
    error: str | None  # the first decode error met inside the request
    sanitised: Sanitised
    messages: tuple[str, ...] = ()  # what the decoder wrote to stderr meanwhile
    damaged: tuple[FrameSpan, ...] = ()

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def decodable_frames(self) -> int:
        return self.frames - sum(span.frames for span in self.damaged)

    @property
    def truncated(self) -> bool:
        """The audio stopped early: a decode error it did not resume after, damage inside it,
        or fewer frames than the header promised."""
        if self.damaged:
            return True
        declared = self.info.declared_frames
        if not self.ended:
            return False
        if self.error is not None:
            return True
        if declared is None:
            return False
        wanted = min(declared, self.start + self.requested)
        return self.start + self.frames < wanted - self.info.length_tolerance

    def decodable(self) -> Samples:
        """The samples without the damaged spans (what a listener should hear)."""
        return cut(self.samples, self.start, self.damaged)


def cut(samples: Samples, start: int, spans: tuple[FrameSpan, ...]) -> Samples:
    """`samples` (frames [start, ...) of a timeline) without the frames inside `spans`."""
    if not spans:
        return samples
    keep = np.ones(samples.shape[0], dtype=bool)
    for span in spans:
        keep[max(0, span.start - start) : max(0, span.start + span.frames - start)] = False
    kept: Samples = samples[keep]
    return kept


def spans_within(spans: tuple[FrameSpan, ...], start: int, stop: int) -> tuple[FrameSpan, ...]:
    """The parts of `spans` inside frames [start, stop)."""
    out = []
    for span in spans:
        first, last = max(span.start, start), min(span.start + span.frames, stop)
        if last > first:
            out.append(FrameSpan(first, last - first))
    return tuple(out)
