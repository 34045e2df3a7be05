"""An anchor: the head of the chain (`seq:hash`) kept in a file outside the database.

The chain proves every row against its predecessors, but nothing inside the database can prove
that no row was removed from its end: cut the newest events (and any snapshot beyond them) and
what is left still verifies. An anchor written at some moment and kept elsewhere (another disk,
another machine, a printed line) closes that hole: the log must still hold the anchored event
with the anchored hash. `verify --anchor FILE` and `export --anchor FILE` check against the file
when it exists and then advance it to the head they verified; a service can write one when it
stops (`write_anchor`).

The file is one line, `<seq>:<64 hex digits>`, written to a temporary name, synced and renamed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

import msgspec

from storage.chain import GENESIS
from storage.errors import StoreError

_LINE: Final = re.compile(r"(\d{1,19}):([0-9a-f]{64})")


class AnchorError(StoreError):
    """An anchor file that cannot be read or written."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"anchor {path}: {reason}")
        self.path = path
        self.reason = reason


class Anchor(msgspec.Struct, frozen=True):
    seq: int
    hash: str

    def line(self) -> str:
        return f"{self.seq}:{self.hash}\n"


def read_anchor(path: Path) -> Anchor | None:
    """The anchor in `path`; None when there is no such file yet."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as e:
        raise AnchorError(path, f"cannot read: {e.strerror or e}") from e
    found = _LINE.fullmatch(text.strip())
    if found is None:
        raise AnchorError(path, "not an anchor (one line `<seq>:<64 hex digits>` expected)")
    return Anchor(int(found[1]), found[2])


def write_anchor(path: Path, anchor: Anchor) -> None:
    temp = path.with_name(f".{path.name}.part")
    try:
        with temp.open("w", encoding="ascii") as file:
            file.write(anchor.line())
            file.flush()
            os.fsync(file.fileno())
        temp.replace(path)
    except OSError as e:
        temp.unlink(missing_ok=True)
        raise AnchorError(path, f"cannot write: {e.strerror or e}") from e


def anchor_break(anchor: Anchor, last_seq: int, hash_at_anchor: str | None) -> str | None:
    """Why the log does not hold the anchored head (None: it does); `hash_at_anchor` is the
    log's hash of its event at `anchor.seq`."""
    if anchor.seq == 0:
        return None if anchor.hash == GENESIS else "the anchor's empty log has another hash"
    if last_seq < anchor.seq or hash_at_anchor is None:
        return (
            f"the log ends at sequence {last_seq}, the anchor holds {anchor.seq}: "
            "the newest events were removed"
        )
    if hash_at_anchor != anchor.hash:
        return f"event {anchor.seq} has another hash than the anchor: the log was rewritten"
    return None
