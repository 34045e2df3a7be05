"""How a log row is kept in SQLite (and read back from PostgreSQL): the event id as its 16 bytes
and the hash as its 32-byte digest (schema revision 0002; before, both were text, 36 and 64
characters), the type as its code and recorded-at as its lag behind occurred-at (revision 0004,
`storage.row.STORED_COLUMNS`).

Reading is defensive: SQLite lets any program store any kind of value in any column (the sqlite3
shell writes TEXT where tierbuffer wrote a BLOB). A value of a kind or size tierbuffer never
writes is a `MalformedRowError` naming the row and the column, never a crash further on.
"""

from __future__ import annotations

from typing import Any, Final

from storage.errors import MalformedRowError
from storage.row import StoredRow
from storage.type_codes import TypeNames

_KINDS: Final[dict[type, str]] = {
    bytes: "BLOB",
    str: "TEXT",
    int: "INTEGER",
    float: "REAL",
    type(None): "NULL",
}


def id_bytes(event_id: str) -> bytes:
    """The 16 bytes of a canonical (lower-case, hyphenated) UUID text."""
    return bytes.fromhex(event_id.replace("-", ""))


def id_text(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _wrong(seq: int, column: str, value: object, expected: str) -> MalformedRowError:
    kind = _KINDS.get(type(value), type(value).__name__)
    size = f" of {len(value)} bytes" if isinstance(value, bytes | str) else ""
    return MalformedRowError(seq, f"column {column} holds {kind}{size}, expected {expected}")


def _blob(seq: int, column: str, value: object, size: int | None = None) -> bytes:
    if type(value) is not bytes or (size is not None and len(value) != size):
        raise _wrong(seq, column, value, f"a BLOB of {size} bytes" if size else "a BLOB")
    return value


def _int(seq: int, column: str, value: object) -> int:
    if type(value) is not int:
        raise _wrong(seq, column, value, "an INTEGER")
    return value


def _text(seq: int, column: str, value: object, *, null: bool = False) -> Any:
    if type(value) is str or (null and value is None):
        return value
    raise _wrong(seq, column, value, "TEXT or NULL" if null else "TEXT")


def _type(seq: int, code: object, names: TypeNames) -> Any:
    if type(code) is not int:
        raise _wrong(seq, "type_code", code, "an INTEGER")
    name = names.text.get(code)
    if name is None:
        raise MalformedRowError(seq, f"column type_code holds {code}, which names no event type")
    return _text(seq, "type_code's name", name)


def row_from_values(values: tuple[Any, ...], names: TypeNames) -> StoredRow:
    """A row read in `STORED_COLUMNS` order, its type named by `names`; MalformedRowError when a
    value is not what we write."""
    seq, event_id, code, version, occurred_at, lag, payload, digest, track, chain = values
    seq = _int(0, "seq", seq)
    id16 = _blob(seq, "event_id", event_id, 16)
    name = _type(seq, code, names)
    version = _int(seq, "version", version)
    occurred_at = _int(seq, "occurred_at", occurred_at)
    return StoredRow(
        seq,
        id_text(id16),
        name,
        version,
        occurred_at,
        occurred_at + _int(seq, "recorded_lag", lag),
        _blob(seq, "payload", payload),
        _blob(seq, "hash", digest, 32).hex(),
        _text(seq, "track", track, null=True),
        _int(seq, "chain", chain),
    )
