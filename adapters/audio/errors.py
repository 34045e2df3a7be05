"""Typed errors of the audio adapter: a failed read carries a reason code, the path and the
name to show for it."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal, TypeAlias

from adapters.errors import AdapterError
from domain.events import FailureReason

ReadReason: TypeAlias = Literal[
    "missing",  # no file at the path
    "directory",  # the path is a folder
    "empty",  # a zero-length file
    "permission",  # the file exists but cannot be opened for reading
    "unsupported",  # a format libsndfile cannot decode (m4a/AAC, WMA, ...) or a non-audio extension
    "wrong_extension",  # the content is a different audio format than the extension says
    "corrupt",  # libsndfile cannot open or decode it (damaged header, garbage, no audio frames)
]

# How each read reason is recorded in a `ChunkFailed` event.
FAILURE_OF: Final[dict[ReadReason, FailureReason]] = {
    "missing": "missing",
    "directory": "missing",
    "empty": "corrupt",
    "permission": "permission",
    "unsupported": "unsupported",
    "wrong_extension": "unsupported",
    "corrupt": "corrupt",
}


class AudioError(AdapterError):
    """Base of the audio adapter's errors."""


class AudioReadError(AudioError):
    """A file cannot be decoded at all; `reason` says why in one code, `detail` in words.

    The message names the file by `name` when given (the library-relative path the log uses:
    workers read absolute paths, but failure details are recorded and shown to people)."""

    def __init__(
        self, reason: ReadReason, path: Path | str, detail: str = "", *, name: str | None = None
    ) -> None:
        self.reason: ReadReason = reason
        self.path = Path(path)
        self.detail = detail
        self.name = name if name else str(path)
        super().__init__(f"{self.name}: {reason}" + (f" ({detail})" if detail else ""))

    def named(self, name: str) -> AudioReadError:
        """The same error, naming the file by `name`."""
        return AudioReadError(self.reason, self.path, self.detail, name=name)

    @property
    def failure_reason(self) -> FailureReason:
        """The reason to record in a `ChunkFailed` event."""
        return FAILURE_OF[self.reason]
