"""Text from the log made safe for a terminal.

Track ids, paths and failure details come from clients and files (and a tampered row can hold
anything); printed raw, an escape sequence in one could clear the screen, move the cursor,
retitle the window or reorder what is shown. Two rules, both writing a character as `\\uXXXX`
(which is also a valid JSON escape, so JSON output stays JSON with the same values):

- `SafeOutput` wraps the stream every command writes to: it escapes control characters other
  than newline and tab (C0, DEL, C1) and the bidirectional overrides, whatever prints them;
- `printable` is for one client-named value in a line of text (a track id): it escapes newline,
  tab and a backslash as well, so the value cannot fake a line or an escape of its own.
"""

from __future__ import annotations

import re
from typing import Final, TextIO

#: Control characters but newline and tab, and the bidirectional embeddings and overrides.
_UNSAFE: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_VALUE: Final = re.compile("[\\\\\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return "\\\\" if char == "\\" else f"\\u{ord(char):04x}"


def safe(text: str) -> str:
    """`text` with control characters (but newline and tab) and bidi overrides escaped."""
    return _UNSAFE.sub(_escape, text)


def printable(value: str) -> str:
    """One value for a line of text: every control character, bidi override and backslash
    escaped."""
    return _UNSAFE_VALUE.sub(_escape, value)


class SafeOutput:
    """A text stream whose writes are passed through `safe`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(safe(text))

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)
