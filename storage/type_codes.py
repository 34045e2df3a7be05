"""The event type as the log stores it: a small integer code (schema revision 0004).

A type's name took 5 to 21 bytes in every row (16 for `PositionReported`, most of a listening
log); its code takes one byte, and none at all for 0 and 1, which SQLite keeps in the record header
alone. The codes are fixed here and
versioned with the schema: the `event_types` table (code, name) holds the same pairs, written
by the migration that introduced them, so the log describes itself to SQL (`JOIN event_types`).
The player's position report is 0 and its chunk request (one per chunk it plays) 1.

Writers take the code from `TYPE_CODES`; readers take the name from the log's own table
(`TypeNames`), which may also hold codes the upgrade to 0004 gave to names tierbuffer never
writes (a row altered by hand keeps its altered name, and `verify` still names that row).
A new event type needs a code here and a migration adding it to the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

#: Event type name -> code. Never change or reuse a code: rows hold them.
TYPE_CODES: Final[Mapping[str, int]] = {
    "PositionReported": 0,
    "ChunkRequested": 1,
    "TrackAdded": 2,
    "TrackModified": 3,
    "TrackMoved": 4,
    "TrackDeleted": 5,
    "TrackChanged": 6,
    "Seeked": 7,
    "PresetChanged": 8,
    "IntensityChanged": 9,
    "Paused": 10,
    "Resumed": 11,
    "Stopped": 12,
    "NextTrackQueued": 13,
    "ChunkQueued": 14,
    "ChunkRenderStarted": 15,
    "ChunkRendered": 16,
    "ChunkFailed": 17,
    "ChunkFileLost": 18,
    "ChunkAnalysed": 19,
    "TrackAnalysed": 20,
    "TrackLevelled": 21,
    "BudgetsSet": 22,
    "MemoryPressureChanged": 23,
    "ServiceStarted": 24,
    "ServiceStopped": 25,
    "WritesResumed": 26,
    "TrackUnreadable": 27,
}

#: Codes from here on were given by the upgrade to 0004 to names found in the log that are no
#: event type (altered by hand); tierbuffer never writes them.
FOREIGN_CODES_FROM: Final[int] = 1000


#: The query that reads a log's `event_types` (both dialects).
SELECT_NAMES: Final[str] = "SELECT code, name FROM event_types"


class TypeNames:
    """A log's code -> name table as a reader holds it (`text`), with each name as the bytes the
    chain hashes (`raw`: only names that are text, as tierbuffer writes them). Codes are never
    reassigned, so what it holds never goes stale; a code it does not hold yet is looked up
    again (`missing`, then `load`)."""

    def __init__(self, pairs: Iterable[tuple[Any, Any]] = ()) -> None:
        self.text: dict[int, Any] = {}
        self.raw: dict[int, bytes] = {}
        self.load(pairs)

    def load(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        for code, name in pairs:
            self.text[code] = name
            if type(name) is str:
                self.raw[code] = name.encode()

    def missing(self, codes: Iterable[object]) -> bool:
        """Whether any of these stored values is a code this table does not hold."""
        text = self.text
        return any(code not in text for code in codes)
