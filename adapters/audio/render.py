"""Render one chunk: decode a window around it, run the preset, encode FLAC, store it.

`render_chunk` is what a render worker calls. It returns the outcome as an event, `ChunkRendered`
or `ChunkFailed`; it raises only for failures of the machine (disk full, out of memory), which
the worker loop records as a crash.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Final

import numpy as np
import soundfile as sf  # type: ignore[import-untyped]

from adapters.audio import cancel
from adapters.audio.decode import DecodedAudio, chunk_frames, open_audio
from adapters.audio.dsp import Signal, block_size
from adapters.audio.errors import AudioReadError
from adapters.audio.presets import TrackLevel, chain_for, render_window
from domain.events import ChunkFailed, ChunkKey, ChunkRendered
from storage.chunks import FileChunkStore

CHUNK_SECONDS: Final = 30.0
FLAC_LEVEL: Final = 0.0  # libFLAC level 0: a few % larger than level 5 and twice as fast
_INT16_SCALE: Final = 32768.0  # libsndfile's scale, so 16-bit sources pass through bit-exactly


def encode_flac(samples: Signal, sample_rate: int) -> bytes:
    """(frames, channels) float32 in [-1, 1] as 16-bit FLAC bytes (no dither: deterministic)."""
    scaled = np.rint(samples * np.float32(_INT16_SCALE))
    pcm = np.clip(scaled, -32768, 32767).astype(np.int16)
    out = io.BytesIO()
    sf.write(out, pcm, sample_rate, format="FLAC", subtype="PCM_16", compression_level=FLAC_LEVEL)
    return out.getvalue()


def decode_flac(data: bytes) -> tuple[Signal, int]:
    """A stored chunk's samples as (frames, channels) float32, and its sample rate."""
    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return samples, int(rate)


def render_chunk(
    source: Path | str,
    key: ChunkKey,
    level: TrackLevel,
    store: FileChunkStore,
    *,
    track_frames: int | None = None,
    chunk_seconds: float = CHUNK_SECONDS,
    quiet: bool = True,
) -> ChunkRendered | ChunkFailed:
    """Render chunk `key` of the audio file `source` into `store`.

    `level` and `track_frames` come from the track's `TrackAnalysed` event: the same level for
    every chunk, and the real length to tell the track's natural end from a damaged file.
    The chunk is short (recorded, not a silent gap) when the audio stops inside it before the
    track's real end or with a decode error; it fails as "short" when nothing of it decodes.
    """
    began = time.perf_counter()
    chain = chain_for(key.preset, key.intensity_tenths / 10.0, level)
    try:
        with open_audio(source, quiet=quiet) as reader:
            rate = reader.info.sample_rate
            size = chunk_frames(rate, chunk_seconds)
            start = key.index * size
            first, last = start, start + size
            if key.intensity_tenths > 0:
                block = block_size(rate)
                first = max(0, (start - chain.preroll_frames(rate)) // block * block)
                last += chain.postroll_frames(rate)
            reader.seek(first)
            decoded = reader.read(last - first)
    except AudioReadError as e:
        return ChunkFailed(key, e.failure_reason, str(e))
    audio_end = decoded.start + decoded.frames
    available = min(max(audio_end - start, 0), size)
    if available == 0:
        detail = f"chunk starts at frame {start}; the audio ends at frame {audio_end}"
        if decoded.error:
            return ChunkFailed(key, "corrupt", f"{detail}: {decoded.error}")
        return ChunkFailed(key, "short", detail)
    if key.intensity_tenths == 0:
        out = decoded.samples[start - first : start - first + available]
    else:
        out = render_window(decoded.samples, first, start, available, rate, chain)
    cancel.checkpoint()
    stored = store.write(key, encode_flac(out, rate))
    return ChunkRendered(
        key,
        stored.path,
        stored.bytes,
        stored.checksum,
        available,
        round((time.perf_counter() - began) * 1000),
        short=_is_short(decoded, start, available, size, track_frames),
        sanitised=decoded.sanitised.non_finite + decoded.sanitised.clipped,
    )


def _is_short(
    decoded: DecodedAudio, start: int, available: int, size: int, track_frames: int | None
) -> bool:
    if available == size:
        return False
    if track_frames is not None and start + available < track_frames:
        return True
    return decoded.truncated
