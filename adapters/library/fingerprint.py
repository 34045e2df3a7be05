"""Fingerprints and probes of library files.

A fingerprint is size + mtime_ns + a blake2b hash of the first and last `BLOCK` bytes (and the
size), so a rewrite that keeps the size is caught without reading a whole file. A probe reads
the header for format, sample rate and channels, and the real duration: the header's frame
count is trusted only for formats whose header states it exactly, and only once a read of the
last declared frame succeeds; MP3 and Ogg (estimates, chained streams) are decoded and counted.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from adapters.audio.decode import BLOCK_FRAMES, AudioReader, open_audio
from adapters.audio.errors import AudioReadError
from domain.events import Fingerprint

BLOCK: Final = 64 * 1024
EXACT_HEADER_FORMATS: Final = frozenset(
    {"WAV", "WAVEX", "RF64", "W64", "AIFF", "FLAC", "CAF", "AU"}
)


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
    """Format, rate, channels and real length of `path`; raises `AudioReadError` with a reason."""
    with open_audio(path) as reader:
        info = reader.info
        declared = info.declared_frames
        if info.format in EXACT_HEADER_FORMATS and declared and _last_frame_reads(reader, declared):
            return Probed(info.format, info.sample_rate, info.channels, declared)
    with open_audio(path) as reader:  # fresh: a failed read leaves a reader unusable
        frames = _count_frames(reader)
    if frames <= 0:
        raise AudioReadError("corrupt", path, "no audio frames")
    return Probed(info.format, info.sample_rate, info.channels, frames)


def _last_frame_reads(reader: AudioReader, declared: int) -> bool:
    reader.seek(declared - 1)
    block = reader.read(1)
    return block.frames == 1 and block.error is None


def _count_frames(reader: AudioReader) -> int:
    frames = 0
    while True:
        block = reader.read(BLOCK_FRAMES)
        frames += block.frames
        if block.ended or block.frames == 0:  # decoding resumes after damage: count it all
            return frames
