"""Text from the log made safe for a terminal.

Track ids, paths and failure details come from clients and files; printed raw, an escape
sequence in one could move the cursor, retitle the window or hide lines. `printable` writes every
control character (C0, DEL, C1) and every other non-printable code point as a Python-style
escape (`\\x1b`, `\\u202e`), and a backslash as two, so what is shown can always be told apart
from what was stored.
"""

from __future__ import annotations

import re
from typing import Final

_UNSAFE: Final = re.compile(r"[\\\x00-\x1f\x7f-\x9f]|[^\x00-\x7f]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\\":
        return "\\\\"
    if char.isprintable():
        return char
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def printable(text: str) -> str:
    """`text` with control and other non-printable characters escaped."""
    return _UNSAFE.sub(_escape, text)
