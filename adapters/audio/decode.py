"""Decode audio files with soundfile: float32, in blocks, from a frame position, defensively.

What real files do, and what this module does about it:

- truncated or damaged OGG/Opus/WAV/MP3 files return fewer frames than their header claims,
  silently: only the frames actually read are trusted, and a read that stops before the header's
  count is flagged `truncated`;
- the header's frame count is an estimate for MP3 without a Xing/LAME tag and may be 2**63-1 for
  chained OGG: it is never used to allocate, only to tell a truncated file from a finished one;
- damaged FLAC raises in the middle of a read ("lost sync"): the frames decoded before the error
  are kept (a second pass with small blocks recovers up to the damage), then decoding resumes
  after the damage by seeking past it; the span in between is recorded (`damaged`) and holds
  zeros, so positions stay those of the file's timeline. Ogg Vorbis/Opus resynchronise by
  themselves (the damaged pages are dropped, the stream closes up) and libmpg123 resyncs MP3
  across up to 1 KiB of damage; beyond that libsndfile's MP3 decoder stops and cannot seek past
  (measured), so such an MP3 ends at its damage (`truncated`);
- samples may be NaN/Inf (float files) or beyond full scale (lossy decoders): overs are kept,
  only what cannot be audio is zeroed and counted (`decoded.ABSURD_LEVEL`);
- anything that cannot be decoded at all raises `AudioReadError` with a reason code and the
  file's display name;
- libmpg123 writes warnings to fd 2: they are captured and returned in `messages`.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final

import numpy as np
import soundfile as sf  # type: ignore[import-untyped]

from adapters.audio import cancel
from adapters.audio.decoded import (
    ABSURD_LEVEL,
    AudioInfo,
    DecodedAudio,
    Samples,
    Sanitised,
    sanitise,
)
from adapters.audio.errors import AudioReadError, ReadReason
from adapters.audio.quiet import Captured, captured_stderr
from adapters.audio.sniff import refusal
from domain.events import FrameSpan

__all__ = [
    "ABSURD_LEVEL",
    "AudioInfo",
    "AudioReader",
    "DecodedAudio",
    "Sanitised",
    "chunk_frames",
    "open_audio",
    "probe",
    "read_chunk",
    "read_frames",
    "sanitise",
]

# Extension -> the libsndfile major formats its content may have.
EXTENSION_FORMATS: Final[dict[str, frozenset[str]]] = {
    ".wav": frozenset({"WAV", "WAVEX", "RF64", "W64"}),
    ".wave": frozenset({"WAV", "WAVEX", "RF64", "W64"}),
    ".w64": frozenset({"W64"}),
    ".rf64": frozenset({"RF64", "WAV"}),
    ".flac": frozenset({"FLAC"}),
    ".ogg": frozenset({"OGG"}),
    ".oga": frozenset({"OGG"}),
    ".opus": frozenset({"OGG"}),
    ".mp3": frozenset({"MP3"}),
    ".aif": frozenset({"AIFF"}),
    ".aiff": frozenset({"AIFF"}),
    ".aifc": frozenset({"AIFF"}),
    ".caf": frozenset({"CAF"}),
    ".au": frozenset({"AU"}),
}
BLOCK_FRAMES: Final = 65536
RECOVERY_BLOCK_FRAMES: Final = 1024
RESUME_STEP: Final = 1024  # resolution of the search for where decoding resumes after damage
RESUME_FORMATS: Final = frozenset({"FLAC"})  # where seeking past damage works (measured)
MP3_SEEK_WARMUP: Final = 4 * 1152  # decoded and dropped before an MP3 seek target (measured)
_UNKNOWN_LENGTH: Final = 2**62  # a header count this large is a marker, not a count


def check_path(path: Path, name: str | None = None) -> None:
    """Raise `AudioReadError` for what can be told without decoding: existence, type, extension."""
    try:
        st = os.stat(path)
    except FileNotFoundError as e:
        raise AudioReadError("missing", path, name=name) from e
    except PermissionError as e:
        raise AudioReadError("permission", path, e.strerror or "", name=name) from e
    except OSError as e:
        raise AudioReadError("missing", path, e.strerror or "", name=name) from e
    if stat.S_ISDIR(st.st_mode):
        raise AudioReadError("directory", path, name=name)
    if not stat.S_ISREG(st.st_mode):
        raise AudioReadError("unsupported", path, "not a regular file", name=name)
    if path.suffix.lower() not in EXTENSION_FORMATS:
        detail = f"extension {path.suffix or '(none)'!r}"
        raise AudioReadError("unsupported", path, detail, name=name)
    if st.st_size == 0:
        raise AudioReadError("empty", path, name=name)


class _OpenFile:
    """A libsndfile handle, opened by path so that libsndfile can use the name as a format hint
    (an MP3 without an ID3 tag has no magic bytes)."""

    def __init__(self, path: Path, name: str | None = None) -> None:
        check_path(path, name)
        try:  # libsndfile reports a permission error as "System error": ask the OS first
            os.close(os.open(path, os.O_RDONLY))
        except PermissionError as e:
            raise AudioReadError("permission", path, e.strerror or "", name=name) from e
        except OSError as e:
            reason: ReadReason = "directory" if e.errno == errno.EISDIR else "missing"
            raise AudioReadError(reason, path, e.strerror or "", name=name) from e
        try:
            self.handle = sf.SoundFile(str(path))
        except (sf.LibsndfileError, RuntimeError) as e:
            reason, detail = _open_refusal(path)
            raise AudioReadError(reason, path, detail, name=name) from e
        try:
            _check_content(path, self.handle, name)
        except BaseException:
            self.handle.close()
            raise

    def close(self) -> None:
        self.handle.close()


def _open_refusal(path: Path) -> tuple[ReadReason, str]:
    """Why libsndfile refused a file that passed `check_path`: gone or locked meanwhile, a
    format it cannot decode, or bad content (its own message is not used: it misleads)."""
    if not path.exists():
        return "missing", ""
    if not os.access(path, os.R_OK):
        return "permission", ""
    return refusal(path)


def _check_content(path: Path, handle: sf.SoundFile, name: str | None) -> None:
    expected = EXTENSION_FORMATS[path.suffix.lower()]
    if handle.format not in expected:
        detail = f"content is {handle.format}"
        raise AudioReadError("wrong_extension", path, detail, name=name)
    if handle.samplerate <= 0 or handle.channels <= 0:
        raise AudioReadError("corrupt", path, "no sample rate or channels", name=name)


class AudioReader:
    """An open file read forward in blocks; get one from `open_audio`.

    `position` is the next frame of the file's timeline to be returned; after damage the
    decoder may already stand further on (`_decoder_at`): the frames in between are damaged.
    """

    def __init__(
        self, path: Path, opened: _OpenFile, captured: Captured | None, name: str | None = None
    ) -> None:
        self._path = path
        self._name = name
        self._opened = opened
        self._handle = opened.handle
        self._captured = captured
        handle = opened.handle
        frames = int(handle.frames)
        declared = frames if 0 <= frames < _UNKNOWN_LENGTH else None
        self.info = AudioInfo(
            path, handle.format, handle.subtype, handle.samplerate, handle.channels, declared
        )
        self._position = 0
        self._decoder_at = 0
        self._error: str | None = None
        self._ended = False

    @property
    def position(self) -> int:
        return self._position

    def seek(self, start: int) -> None:
        """Go to frame `start`; if the file cannot seek there, decode forward and discard.

        libmpg123 lands on an MP3 frame boundary without its bit reservoir and overlap state,
        so the first frames after a seek differ from a continuous decode: MP3 seeks start
        `MP3_SEEK_WARMUP` frames early and decode forward (measured exact to 1e-7).
        """
        if start == self._position:
            return
        warmup = min(start, MP3_SEEK_WARMUP) if self.info.format == "MP3" else 0
        try:
            self._handle.seek(start - warmup)
        except (sf.LibsndfileError, RuntimeError, ValueError):
            if self.info.format in RESUME_FORMATS:  # the target lies in damage: resume after it
                self._resume(start)
                self._position = start
                return
            if start < self._position:  # a stream that cannot seek: decode from the start
                self._reopen(0)
        else:
            self._position = self._decoder_at = start - warmup
            self._ended = False
        while self._position < start and not self._ended:  # stops at the real end, if first
            self.read(min(BLOCK_FRAMES, start - self._position))

    def read(self, count: int) -> DecodedAudio:
        """Decode up to `count` frames of the timeline from the current position."""
        start = self._position
        self._error = None
        blocks: list[Samples] = []
        spans: list[FrameSpan] = []
        got = 0
        while got < count and not self._ended:
            cancel.checkpoint()
            if self._decoder_at > start + got:  # inside a damaged span: zeros up to its end
                gap = min(self._decoder_at, start + count) - (start + got)
                spans.append(FrameSpan(start + got, gap))
                blocks.append(np.zeros((gap, self.info.channels), dtype=np.float32))
                got += gap
                continue
            want = min(BLOCK_FRAMES, count - got)
            block, error = _raw_read(self._handle, want, self.info.channels)
            if error is None:
                blocks.append(block)
                got += block.shape[0]
                self._decoder_at += block.shape[0]
                self._ended = block.shape[0] < want
                continue
            self._error = self._error or error  # what a failing call returned may be garbage
            kept = self._recover(start + got, count - got)
            blocks.extend(kept)
            got += sum(k.shape[0] for k in kept)
            self._resume(start + got)
        report = Sanitised()
        for block in blocks:
            report = report + sanitise(block)
        samples = blocks[0] if len(blocks) == 1 else _join(blocks, self.info.channels)
        self._position = start + samples.shape[0]
        messages = self._captured.lines if self._captured is not None else ()
        return DecodedAudio(
            self.info,
            start,
            count,
            samples,
            self._ended,
            self._error,
            report,
            messages,
            tuple(spans),
        )

    def _recover(self, position: int, limit: int) -> list[Samples]:
        """After a mid-read error, reopen and decode small blocks up to the damage. Blocks lie
        on a grid of absolute positions, so the damage is found at the same frame whichever
        read met it: at most `RECOVERY_BLOCK_FRAMES` decodable frames before it are lost."""
        try:
            self._reopen(position)
        except (sf.LibsndfileError, RuntimeError, ValueError, AudioReadError):
            return []
        kept: list[Samples] = []
        got = 0
        while got < limit:
            grid = RECOVERY_BLOCK_FRAMES - (position + got) % RECOVERY_BLOCK_FRAMES
            want = min(grid, limit - got)
            block, error = _raw_read(self._handle, want, self.info.channels)
            if error is not None:
                break
            kept.append(block)
            got += block.shape[0]
            if block.shape[0] < want:
                break
        return kept

    def _resume(self, bad: int) -> None:
        """Find the first grid frame after `bad` (a frame that does not decode) from which the
        file decodes again, and stand the decoder there; or end the stream if there is none.
        The grid is absolute (multiples of `RESUME_STEP`), so every read finds the same frame."""
        declared = self.info.declared_frames
        if self.info.format not in RESUME_FORMATS or declared is None:
            self._ended = True
            return
        good = None
        step = RESUME_STEP
        candidate = (bad // RESUME_STEP + 1) * RESUME_STEP
        while good is None and candidate < declared:  # grow the step until one decodes
            if self._decodes_at(candidate):
                good = candidate
            else:
                bad, candidate, step = candidate, candidate + step, step * 2
        if good is None:
            self._ended = True
            return
        while good - bad > RESUME_STEP:  # then narrow down to the grid
            middle = (bad + (good - bad) // 2) // RESUME_STEP * RESUME_STEP
            if middle <= bad:
                break
            if self._decodes_at(middle):
                good = middle
            else:
                bad = middle
        self._reopen(good)
        self._decoder_at = good

    def _decodes_at(self, position: int) -> bool:
        try:
            self._reopen(position)
        except (sf.LibsndfileError, RuntimeError, ValueError, AudioReadError):
            return False
        block, error = _raw_read(self._handle, RESUME_STEP, self.info.channels)
        return error is None and block.shape[0] > 0

    def _reopen(self, position: int) -> None:
        self._opened.close()
        self._opened = _OpenFile(self._path, self._name)
        self._handle = self._opened.handle
        if position:
            self._handle.seek(position)
        self._position = self._decoder_at = position
        self._ended = False

    def close(self) -> None:
        self._opened.close()


def _raw_read(handle: sf.SoundFile, frames: int, channels: int) -> tuple[Samples, str | None]:
    """One `sf_readf_float` call into a fresh buffer: the frames it returned, and its error.

    `SoundFile.read` is not used: it trims the request to the header's frame count (which may
    be an estimate, or 0 for a damaged OGG) and seeks back to where it thinks it is after every
    call, which makes libmpg123 lose its state and return wrong samples at each block seam.
    """
    buffer = np.empty((frames, channels), dtype=np.float32)
    pointer = sf._ffi.cast("float *", buffer.ctypes.data)
    got = int(sf._snd.sf_readf_float(handle._file, pointer, frames))
    code = int(sf._snd.sf_error(handle._file))
    error = None
    if code:
        error = sf._ffi.string(sf._snd.sf_error_number(code)).decode("utf-8", "replace")
    return buffer[: max(got, 0)], error


def _join(blocks: list[Samples], channels: int) -> Samples:
    if not blocks:
        return np.zeros((0, channels), dtype=np.float32)
    return np.concatenate(blocks, axis=0)


@contextmanager
def open_audio(
    path: Path | str, *, quiet: bool = True, name: str | None = None
) -> Iterator[AudioReader]:
    """Open `path` for reading; errors name it `name` (default: the path). With `quiet`, the
    decoder's stderr is captured, not printed."""
    path = Path(path)
    with ExitStack() as stack:
        captured = stack.enter_context(captured_stderr()) if quiet else None
        reader = AudioReader(path, _OpenFile(path, name), captured, name)
        stack.callback(reader.close)
        yield reader


def probe(path: Path | str) -> AudioInfo:
    """The header of `path` (raises `AudioReadError` if it cannot be opened as audio)."""
    with open_audio(path) as reader:
        return reader.info


def read_frames(path: Path | str, start: int, count: int, *, quiet: bool = True) -> DecodedAudio:
    """Decode frames [start, start + count) of `path`; fewer if the audio ends first."""
    if start < 0 or count < 0:
        raise ValueError(f"negative frame range: start={start} count={count}")
    with open_audio(path, quiet=quiet) as reader:
        reader.seek(start)
        return reader.read(count)


def chunk_frames(sample_rate: int, chunk_seconds: float) -> int:
    """Frames in one chunk at this sample rate."""
    return max(1, round(sample_rate * chunk_seconds))


def read_chunk(
    path: Path | str, index: int, *, chunk_seconds: float = 30.0, quiet: bool = True
) -> DecodedAudio:
    """Decode chunk `index` (each `chunk_seconds` long) of `path`."""
    with open_audio(path, quiet=quiet) as reader:
        size = chunk_frames(reader.info.sample_rate, chunk_seconds)
        reader.seek(index * size)
        return reader.read(size)
