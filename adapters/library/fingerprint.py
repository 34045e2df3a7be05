"""Fingerprints and probes of library files.

A fingerprint is size + mtime_ns + a blake2b hash of the first and last `BLOCK` bytes (and the
size), so a rewrite that keeps the size is caught without reading a whole file. A probe reads
the header for format, sample rate, channels and length, decoding no more than a frame or two:
the header's frame count is trusted once a read of the last declared frame succeeds (WAV, FLAC,
Ogg Vorbis and Opus, ...), or for MP3 once its first frames decode (exact with a Xing/LAME tag,
a bitrate estimate without). A file whose header states no usable count (a chained Ogg stream,
a cut file) is decoded and counted. The background analysis measures every track's real length
later and corrects an estimate, so a scan reads headers, not whole files.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from adapters.audio.errors import AudioReadError
from domain.events import Fingerprint

if TYPE_CHECKING:
    from adapters.audio.decode import AudioReader

BLOCK: Final = 64 * 1024
#: Formats whose header states the frame count (Ogg: the last page's granule position, exact
#: for Vorbis and Opus; a chained or cut stream fails the last-frame check and is counted).
HEADER_COUNT_FORMATS: Final = frozenset(
    {"WAV", "WAVEX", "RF64", "W64", "AIFF", "FLAC", "CAF", "AU", "OGG"}
)
MP3_PROBE_FRAMES: Final = 4 * 1152


def fingerprint(path: Path | str, size: int, mtime_ns: int) -> Fingerprint:
    """Hash the first and last `BLOCK` bytes of a file whose stat gave `size` and `mtime_ns`.

    Raises OSError when the file cannot be opened (the caller records why)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(size.to_bytes(8, "little"))
    with open(path, "rb") as f:
        digest.update(f.read(BLOCK))
        if size > BLOCK:
            f.seek(max(BLOCK, size - BLOCK))
            digest.update(f.read(BLOCK))
    return Fingerprint(size=size, mtime_ns=mtime_ns, content_hash=digest.hexdigest())


def stat_fingerprint(path: Path | str) -> Fingerprint:
    """Stat and fingerprint in one go (tests, tools)."""
    st = os.stat(path)
    return fingerprint(path, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class Probed:
    """What a track event needs to know about an audio file."""

    format: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_ms(self) -> int:
        return self.frames * 1000 // self.sample_rate


def probe_track(path: Path) -> Probed:
    """Format, rate, channels and length of `path` from its header where the header's count can
    be trusted (checked by reading its last frame; an MP3's count, exact with a Xing/LAME tag
    and an estimate without, once its first frames decode); otherwise decoded and counted.
    The background analysis measures the real length later (`TrackAnalysed.frames`), which
    corrects an estimate. Raises `AudioReadError` with a reason."""
    # soundfile and numpy: imported by the first probe (a scan's thread), not at service start
    from adapters.audio.decode import open_audio

    with open_audio(path) as reader:
        info = reader.info
        declared = info.declared_frames
        if declared and _header_count_holds(reader, declared):
            return Probed(info.format, info.sample_rate, info.channels, declared)
    with open_audio(path) as reader:  # fresh: a failed read leaves a reader unusable
        frames = _count_frames(reader)
    if frames <= 0:
        raise AudioReadError("corrupt", path, "no audio frames")
    return Probed(info.format, info.sample_rate, info.channels, frames)


def _header_count_holds(reader: AudioReader, declared: int) -> bool:
    if reader.info.format == "MP3":
        block = reader.read(MP3_PROBE_FRAMES)
        return block.frames > 0 and block.error is None
    return reader.info.format in HEADER_COUNT_FORMATS and _last_frame_reads(reader, declared)


def _last_frame_reads(reader: AudioReader, declared: int) -> bool:
    reader.seek(declared - 1)
    block = reader.read(1)
    return block.frames == 1 and block.error is None


def _count_frames(reader: AudioReader) -> int:
    from adapters.audio.decode import BLOCK_FRAMES

    frames = 0
    while True:
        block = reader.read(BLOCK_FRAMES)
        frames += block.frames
        if block.ended or block.frames == 0:  # decoding resumes after damage: count it all
            return frames
