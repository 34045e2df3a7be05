"""Decode audio files with soundfile: float32, in blocks, from a frame position, defensively.

What real files do, and what this module does about it:

- truncated or damaged OGG/Opus/WAV/MP3 files return fewer frames than their header claims,
  silently: only the frames actually read are trusted, and a read that stops before the header's
  count is flagged `truncated`;
- the header's frame count is an estimate for MP3 without a Xing/LAME tag and may be 2**63-1 for
  chained OGG: it is never used to allocate, only to tell a truncated file from a finished one;
- damaged FLAC (and MP3) raise in the middle of a read: the frames decoded before the error are
  kept, the error is returned as text, and a second pass with small blocks recovers what it can;
- samples may be NaN/Inf (float files) or far outside [-1, 1] (lossy decoders, damaged MP3): they
  are sanitised (non-finite -> 0, then clipped) and counted;
- anything that cannot be decoded at all raises `AudioReadError` with a reason code and the path;
- libmpg123 writes warnings to fd 2: they are captured and returned in `messages`.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import soundfile as sf  # type: ignore[import-untyped]

from adapters.audio import cancel
from adapters.audio.errors import AudioReadError, ReadReason
from adapters.audio.quiet import Captured, captured_stderr

Samples = npt.NDArray[np.float32]

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
MP3_SEEK_WARMUP: Final = 4 * 1152  # decoded and dropped before an MP3 seek target (measured)
_UNKNOWN_LENGTH: Final = 2**62  # a header count this large is a marker, not a count


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
    """What sanitising a read changed: non-finite samples zeroed, out-of-range samples clipped."""

    non_finite: int = 0
    clipped: int = 0
    peak: float = 0.0  # largest finite |sample| before clipping

    def __add__(self, other: Sanitised) -> Sanitised:
        return Sanitised(
            self.non_finite + other.non_finite,
            self.clipped + other.clipped,
            max(self.peak, other.peak),
        )

    @property
    def changed(self) -> bool:
        return self.non_finite > 0 or self.clipped > 0


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """Frames [start, start + frames) of a file as float32 (frames, channels), sanitised."""

    info: AudioInfo
    start: int
    requested: int
    samples: Samples
    ended: bool  # the stream ended (or failed) inside the request: there is nothing after this
    error: str | None  # a decode error met inside the request; `samples` hold what preceded it
    sanitised: Sanitised
    messages: tuple[str, ...] = ()  # what the decoder wrote to stderr meanwhile

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def truncated(self) -> bool:
        """The audio stopped early: a decode error, or fewer frames than the header promised."""
        if self.error is not None:
            return True
        declared = self.info.declared_frames
        if not self.ended or declared is None:
            return False
        wanted = min(declared, self.start + self.requested)
        return self.start + self.frames < wanted - self.info.length_tolerance


def sanitise(block: Samples) -> Sanitised:
    """Zero NaN/Inf and clip to [-1, 1], in place; count what changed."""
    if block.size == 0:
        return Sanitised()
    high, low = float(block.max()), float(block.min())
    if -1.0 <= low and high <= 1.0:  # NaN fails both comparisons, so it takes the slow path
        return Sanitised(peak=max(high, -low))
    finite = np.isfinite(block)
    non_finite = int(block.size - np.count_nonzero(finite))
    if non_finite:
        block[~finite] = 0.0
    magnitude = np.abs(block)
    clipped = int(np.count_nonzero(magnitude > 1.0))
    peak = float(magnitude.max())
    np.clip(block, -1.0, 1.0, out=block)
    return Sanitised(non_finite, clipped, peak)


def check_path(path: Path) -> None:
    """Raise `AudioReadError` for what can be told without decoding: existence, type, extension."""
    try:
        st = os.stat(path)
    except FileNotFoundError as e:
        raise AudioReadError("missing", path) from e
    except PermissionError as e:
        raise AudioReadError("permission", path, str(e)) from e
    except OSError as e:
        raise AudioReadError("missing", path, str(e)) from e
    if stat.S_ISDIR(st.st_mode):
        raise AudioReadError("directory", path)
    if not stat.S_ISREG(st.st_mode):
        raise AudioReadError("unsupported", path, "not a regular file")
    if path.suffix.lower() not in EXTENSION_FORMATS:
        raise AudioReadError("unsupported", path, f"extension {path.suffix or '(none)'!r}")
    if st.st_size == 0:
        raise AudioReadError("empty", path)


class _OpenFile:
    """A libsndfile handle, opened by path so that libsndfile can use the name as a format hint
    (an MP3 without an ID3 tag has no magic bytes)."""

    def __init__(self, path: Path) -> None:
        check_path(path)
        try:  # libsndfile reports a permission error as "System error": ask the OS first
            os.close(os.open(path, os.O_RDONLY))
        except PermissionError as e:
            raise AudioReadError("permission", path, str(e)) from e
        except OSError as e:
            reason: ReadReason = "directory" if e.errno == errno.EISDIR else "missing"
            raise AudioReadError(reason, path, str(e)) from e
        try:
            self.handle = sf.SoundFile(str(path))
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioReadError(_open_reason(path), path, str(e)) from e
        try:
            _check_content(path, self.handle)
        except BaseException:
            self.handle.close()
            raise

    def close(self) -> None:
        self.handle.close()


def _open_reason(path: Path) -> ReadReason:
    """Why libsndfile refused a file that passed `check_path`: gone or locked meanwhile, or bad."""
    if not path.exists():
        return "missing"
    if not os.access(path, os.R_OK):
        return "permission"
    return "corrupt"


def _check_content(path: Path, handle: sf.SoundFile) -> None:
    expected = EXTENSION_FORMATS[path.suffix.lower()]
    if handle.format not in expected:
        raise AudioReadError("wrong_extension", path, f"content is {handle.format}")
    if handle.samplerate <= 0 or handle.channels <= 0:
        raise AudioReadError("corrupt", path, "no sample rate or channels")


class AudioReader:
    """An open file read forward in blocks; get one from `open_audio`."""

    def __init__(self, path: Path, opened: _OpenFile, captured: Captured | None) -> None:
        self._path = path
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
        self._failed: str | None = None
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
            if start < self._position:  # a stream that cannot seek: decode from the start
                self._reopen(0)
        else:
            self._position, self._ended = start - warmup, False
        while self._position < start and not self._ended:  # stops at the real end, if first
            self.read(min(BLOCK_FRAMES, start - self._position))

    def read(self, count: int) -> DecodedAudio:
        """Decode up to `count` frames from the current position."""
        start = self._position
        blocks: list[Samples] = []
        got = 0
        error = self._failed
        while got < count and not self._ended and error is None:
            cancel.checkpoint()
            want = min(BLOCK_FRAMES, count - got)
            block, error = _raw_read(self._handle, want, self.info.channels)
            if error is not None:  # what a failing call returned may be zeros or garbage
                self._failed = error
                blocks.extend(self._recover(start + got, count - got))
                self._ended = True
                break
            blocks.append(block)
            got += block.shape[0]
            if block.shape[0] < want:
                self._ended = True
        report = Sanitised()
        for block in blocks:
            report = report + sanitise(block)
        samples = blocks[0] if len(blocks) == 1 else _join(blocks, self.info.channels)
        self._position = start + samples.shape[0]
        messages = self._captured.lines if self._captured is not None else ()
        return DecodedAudio(self.info, start, count, samples, self._ended, error, report, messages)

    def _recover(self, position: int, limit: int) -> list[Samples]:
        """After a mid-read error, reopen and decode small blocks up to the damage: at most
        `RECOVERY_BLOCK_FRAMES` decodable frames before it are lost."""
        try:
            self._reopen(position)
        except (sf.LibsndfileError, RuntimeError, ValueError, AudioReadError):
            return []
        kept: list[Samples] = []
        got = 0
        while got < limit:
            want = min(RECOVERY_BLOCK_FRAMES, limit - got)
            block, error = _raw_read(self._handle, want, self.info.channels)
            if error is not None:
                break
            kept.append(block)
            got += block.shape[0]
            if block.shape[0] < want:
                break
        return kept

    def _reopen(self, position: int) -> None:
        self._opened.close()
        self._opened = _OpenFile(self._path)
        self._handle = self._opened.handle
        if position:
            self._handle.seek(position)
        self._position = position
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
def open_audio(path: Path | str, *, quiet: bool = True) -> Iterator[AudioReader]:
    """Open `path` for reading; with `quiet`, the decoder's stderr is captured, not printed."""
    path = Path(path)
    with ExitStack() as stack:
        captured = stack.enter_context(captured_stderr()) if quiet else None
        reader = AudioReader(path, _OpenFile(path), captured)
        stack.callback(reader.close)
        yield reader


def probe(path: Path | str) -> AudioInfo:
    """The header of `path` (raises `AudioReadError` if it cannot be opened as audio)."""
    with open_audio(path) as reader:
        return reader.info


def read_frames(path: Path | str, start: int, count: int, *, quiet: bool = True) -> DecodedAudio:
    """Decode frames [start, start + count) of `path`; fewer if the audio ends or breaks first."""
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
