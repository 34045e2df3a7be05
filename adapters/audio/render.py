"""Render one chunk: decode a window around it, run the preset, encode FLAC, store it.

`render_chunk` is what a render worker calls. It returns the outcome as an event, `ChunkRendered`
or `ChunkFailed`; it raises only for failures of the machine (disk full, out of memory), which
the worker loop records as a crash.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import soundfile as sf  # type: ignore[import-untyped]

from adapters.audio import cancel
from adapters.audio.decode import AudioReader, chunk_frames, open_audio
from adapters.audio.decoded import DecodedAudio, cut, spans_within
from adapters.audio.dsp import Signal, block_size
from adapters.audio.errors import AudioReadError
from adapters.audio.presets import Chain, TrackLevel, chain_for, render_window
from domain.events import ChunkFailed, ChunkKey, ChunkRendered, FrameSpan
from storage.chunks import FileChunkStore

CHUNK_SECONDS: Final = 30.0
FLAC_LEVEL: Final = 0.0  # libFLAC level 0: a few % larger than level 5 and twice as fast
_INT16_SCALE: Final = 32768.0  # libsndfile's scale, so 16-bit sources pass through bit-exactly


def encode_flac(samples: Signal, sample_rate: int) -> bytes:
    """(frames, channels) float32 in [-1, 1] as 16-bit FLAC bytes (no dither: deterministic).
    `samples` may be any view (a render's transposed output): the scaling writes C order."""
    scaled = np.multiply(samples, np.float32(_INT16_SCALE), order="C")
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    pcm = np.empty(scaled.shape, dtype=np.int16)
    np.rint(scaled, out=pcm, casting="unsafe")  # whole numbers in range: the cast is exact
    out = io.BytesIO()
    sf.write(out, pcm, sample_rate, format="FLAC", subtype="PCM_16", compression_level=FLAC_LEVEL)
    return out.getvalue()


def decode_flac(data: bytes) -> tuple[Signal, int]:
    """A stored chunk's samples as (frames, channels) float32, and its sample rate."""
    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return samples, int(rate)


@dataclass(frozen=True, slots=True)
class RenderedSpan:
    """Frames [start, start + frames) of a track's timeline through a chain: `samples` hold
    the frames that decode (damaged spans left out, and listed in `damaged`)."""

    start: int
    frames: int  # timeline frames covered (fewer than asked when the audio ends first)
    samples: Signal
    damaged: tuple[FrameSpan, ...]
    decoded: DecodedAudio  # the whole decoded window, pre/post-roll included

    @property
    def delivered(self) -> int:
        return int(self.samples.shape[0])


def render_span(reader: AudioReader, start: int, count: int, chain: Chain | None) -> RenderedSpan:
    """Render `count` frames from `start` of an open file through `chain` (None: bypass, the
    decoded input bit for bit). The window decoded around the span carries the chain's pre- and
    post-roll and starts on the block grid, so any span equals the same frames of a whole-track
    render. What the service renders for a chunk and what `tierbuffer render` previews."""
    rate = reader.info.sample_rate
    first, last = start, start + count
    if chain is not None:  # whole blocks, so the chain need not pad a copy of the window
        block = block_size(rate)
        first = max(0, (start - chain.preroll_frames(rate)) // block * block)
        last = -(-(last + chain.postroll_frames(rate)) // block) * block
    reader.seek(first)
    decoded = reader.read(last - first)
    available = min(max(decoded.start + decoded.frames - start, 0), count)
    if chain is None or available == 0:
        out = decoded.samples[start - first : start - first + available]
    else:
        out = render_window(decoded.samples, first, start, available, rate, chain)
    damaged = spans_within(decoded.damaged, start, start + available)
    return RenderedSpan(start, available, cut(out, start, damaged), damaged, decoded)


def render_chunk(
    source: Path | str,
    key: ChunkKey,
    level: TrackLevel,
    store: FileChunkStore,
    *,
    track_frames: int | None = None,
    chunk_seconds: float = CHUNK_SECONDS,
    quiet: bool = True,
    name: str | None = None,
) -> ChunkRendered | ChunkFailed:
    """Render chunk `key` of the audio file `source` into `store`; failure details name the
    file `name` (the library-relative path; default: the file name).

    `level` and `track_frames` come from the track's `TrackAnalysed` event: the same level for
    every chunk, and the real length to tell the track's natural end from a damaged file.
    Damaged spans inside the chunk are left out (the chunk is short and lists them); the chunk
    is also short when the audio stops inside it before the track's real end; it fails when
    nothing of it decodes ("short" past the end, "corrupt" in damage).
    """
    began = time.perf_counter()
    label = name if name else Path(source).name
    chain = (
        chain_for(key.preset, key.intensity_tenths / 10.0, level) if key.intensity_tenths else None
    )
    try:
        with open_audio(source, quiet=quiet, name=label) as reader:
            size = chunk_frames(reader.info.sample_rate, chunk_seconds)
            span = render_span(reader, key.index * size, size, chain)
            rate = reader.info.sample_rate
    except AudioReadError as e:
        return ChunkFailed(key, e.failure_reason, str(e))
    if span.delivered == 0:
        return _nothing_decoded(key, span, label)
    cancel.checkpoint()
    stored = store.write(key, encode_flac(span.samples, rate))
    return ChunkRendered(
        key,
        stored.path,
        stored.bytes,
        stored.checksum,
        span.delivered,
        round((time.perf_counter() - began) * 1000),
        short=_is_short(span, size, track_frames),
        sanitised=span.decoded.sanitised.zeroed,
        damaged=span.damaged,
    )


def _nothing_decoded(key: ChunkKey, span: RenderedSpan, label: str) -> ChunkFailed:
    end = span.decoded.start + span.decoded.frames
    if span.damaged:
        detail = f"{label}: chunk frames {span.start}..{span.start + span.frames} are all damaged"
        return ChunkFailed(key, "corrupt", detail)
    detail = f"{label}: chunk starts at frame {span.start}; the audio ends at frame {end}"
    if span.decoded.error:
        return ChunkFailed(key, "corrupt", f"{detail}: {span.decoded.error}")
    return ChunkFailed(key, "short", detail)


def _is_short(span: RenderedSpan, size: int, track_frames: int | None) -> bool:
    if span.damaged:
        return True
    if span.frames == size:
        return False
    if track_frames is not None and span.start + span.frames < track_frames:
        return True
    return span.decoded.truncated
