"""Keep what C decoders write to the process's stderr (libmpg123's resync warnings) out of ours.

libmpg123 writes warnings straight to file descriptor 2, below Python's `sys.stderr`, so the only
ways to keep them out of the service's output are to decode in a child process or to point fd 2
elsewhere while the decoder runs. `captured_stderr` does the latter and hands the text back, so
the caller can record it instead of losing it.

fd 2 belongs to the whole process: while a capture is open, anything another thread writes to
fd 2 lands in the capture too (and is returned with the decoder's text, not lost). Captures are
serialised by a lock. Decoding is meant to run in worker processes, where this costs nothing.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

_lock = threading.RLock()
_MAX_KEPT = 4096  # bytes of captured text kept; a damaged MP3 can warn thousands of times


class Captured:
    """The text written to fd 2 since the capture opened (all of it once it has closed)."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        self._final = b""

    def _close(self) -> None:
        self._final = self._peek()
        self._fd = None

    def _peek(self) -> bytes:
        if self._fd is None:
            return self._final
        return os.pread(self._fd, _MAX_KEPT, 0)

    @property
    def text(self) -> str:
        return self._peek().decode("utf-8", "replace")

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(line for line in self.text.splitlines() if line.strip())


@contextmanager
def captured_stderr() -> Iterator[Captured]:
    """Redirect fd 2 to a temporary file for the duration; yield what was written there."""
    with _lock, tempfile.TemporaryFile(mode="w+b") as sink:
        with suppress(AttributeError, ValueError, OSError):  # a closed sys.stderr holds nothing
            sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        captured = Captured(sink.fileno())
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured._close()
