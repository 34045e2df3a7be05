"""Helpers shared by the storage tests and the CLI tests on database files."""

from __future__ import annotations

import itertools
import random
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import pytest

from domain.projection import fold
from domain.state import State
from storage.chain import row_hash
from storage.errors import DatabaseError, NotADatabaseError, SchemaError
from storage.log import Log
from storage.projector import replay
from storage.schema import metadata
from storage.sqlite_log import open_sqlite_log
from storage.sqlite_store import SqliteEventStore
from tests.support.clock import FixedClock
from tests.support.events import checkpoint, sidecars, sqlite_exec, sqlite_rows

REPO = Path(__file__).resolve().parents[2]


def schema_of(db: Path) -> list[tuple[str, str, str]]:
    rows = sqlite_rows(
        db,
        "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
        "ORDER BY type, name",
    )
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def revision_of(db: Path) -> list[str]:
    return [str(r[0]) for r in sqlite_rows(db, "SELECT version_num FROM alembic_version")]


#: A row as tierbuffer means it, whichever layout it is stored in (revision 0002 and later).
_LOGICAL_COLUMNS = (
    "seq, event_id, type, version, occurred_at, recorded_at, payload, hash, track, chain"
)
_LOGICAL_0004 = (
    "SELECT seq, event_id, name, version, occurred_at, occurred_at + recorded_lag, payload, hash, "
    "track, chain FROM events JOIN event_types ON code = type_code ORDER BY seq"
)


def logical_rows(db: Path) -> list[tuple[Any, ...]]:
    """Every row with its type by name and recorded-at as a timestamp, read with SQL from the
    layout of revision 0002-0003 or of 0004 on (the type as a code, recorded-at as a lag)."""
    columns = {row[1] for row in sqlite_rows(db, "PRAGMA table_info(events)")}
    if "type_code" in columns:
        return sqlite_rows(db, _LOGICAL_0004)
    return sqlite_rows(db, f"SELECT {_LOGICAL_COLUMNS} FROM events ORDER BY seq")


def schema_less_database(path: Path) -> Path:
    """A real, non-empty SQLite file with no tables at all: schema at revision 'none'."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 7")
    connection.close()
    assert path.stat().st_size > 0
    return path


def expected_schema() -> list[tuple[str, str, str]]:
    """Tables and named indexes of storage.schema (the migrations' target), plus Alembic's own."""
    entries = [("table", "alembic_version", "alembic_version")]
    for table in metadata.sorted_tables:
        entries.append(("table", table.name, table.name))
        entries.extend(("index", str(index.name), table.name) for index in table.indexes)
    return sorted(entries)


def printed_state_hash(out: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith("state-hash: ")]
    return line.removeprefix("state-hash: ")


def folder_state(folder: Path) -> dict[str, bytes | None]:
    """Every entry under `folder`: file bytes, or None for a directory."""
    return {
        str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(folder.rglob("*"))
    }


def _text(path: Path, populated: Path) -> None:
    path.write_text("this is my shopping list\n" * 200, encoding="utf-8")


def _random(path: Path, populated: Path) -> None:
    path.write_bytes(random.Random(42).randbytes(16_384))


def _truncated(path: Path, populated: Path) -> None:
    checkpoint(populated)
    assert not sidecars(populated)
    data = populated.read_bytes()
    assert len(data) >= 4 * 4096, "the database should span several pages"
    path.write_bytes(data[: len(data) // 2])


def _directory(path: Path, populated: Path) -> None:
    path.mkdir()
    (path / "inside.txt").write_text("x", encoding="utf-8")


def _newer(path: Path, populated: Path) -> None:
    shutil.copyfile(populated, path)
    sqlite_exec(path, "UPDATE alembic_version SET version_num = '9999'")
    checkpoint(path)


def _foreign(path: Path, populated: Path) -> None:
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO customers (name) VALUES ('Ada'), ('Grace')")
    connection.close()


BAD_FILES: dict[str, tuple[Callable[[Path, Path], None], type[DatabaseError], str]] = {
    "text": (_text, NotADatabaseError, "not an sqlite database"),
    "random-bytes": (_random, NotADatabaseError, "not an sqlite database"),
    "truncated": (_truncated, NotADatabaseError, "truncated"),
    "directory": (_directory, DatabaseError, "directory"),
    "newer-revision": (_newer, SchemaError, "newer tierbuffer"),
    "other-application": (_foreign, SchemaError, "not tierbuffer"),
}


@pytest.fixture(params=sorted(BAD_FILES))
def bad_case(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bad_db(bad_case: str, tmp_path: Path, populated_db: Path) -> Iterator[Path]:
    folder = tmp_path / "bad"
    folder.mkdir()
    path = folder / "tierbuffer.db"
    make, _, _ = BAD_FILES[bad_case]
    make(path, populated_db)
    assert not sidecars(path)
    yield path


async def snapshot_at(db: Path, *seqs: int) -> State:
    """Write snapshots of the state at each sequence number; return the full replay."""
    async with opened_log(db) as log:
        for seq in seqs:
            state = fold(itertools.islice(log.events.iter_recorded(), seq), State())
            assert state.seq == seq
            await log.snapshots.save(state, created_at=seq)
        return await replay(log.events)


def corrupt_snapshot_bytes(db: Path, seq: int) -> None:
    (data,) = sqlite_rows(db, "SELECT state FROM snapshots WHERE seq = ?", (seq,))[0]
    altered = bytes(data).replace(b'"ignored":', b'"ignored":1', 1)
    assert altered != bytes(data)
    connection = sqlite3.connect(db)
    with connection:
        connection.execute("UPDATE snapshots SET state = ? WHERE seq = ?", (altered, seq))
    connection.close()


_SWAP_COLUMNS = (
    "event_id", "type_code", "version", "occurred_at", "recorded_lag", "track", "payload"
)  # fmt: skip


def opened_log(db: Path) -> AbstractAsyncContextManager[Log]:
    return open_sqlite_log(db, clock=FixedClock(), create=False, migrate=False)


def alter_payload(db: Path, seq: int) -> None:
    (payload,) = sqlite_rows(db, "SELECT payload FROM events WHERE seq = ?", (seq,))[0]
    replacement = b'{"type":"Paused"}' if payload != b'{"type":"Paused"}' else b'{"type":"Stopped"}'
    connection = sqlite3.connect(db)
    with connection:
        connection.execute("UPDATE events SET payload = ? WHERE seq = ?", (replacement, seq))
    connection.close()


def alter_occurred_at(db: Path, seq: int) -> None:
    sqlite_exec(db, f"UPDATE events SET occurred_at = occurred_at + 1 WHERE seq = {seq}")


def delete_row(db: Path, seq: int) -> None:
    sqlite_exec(db, f"DELETE FROM events WHERE seq = {seq}")


def swap_contents(db: Path, seq: int, other: int | None = None) -> None:
    """Exchange every column but seq (and the hash, left in place) of two rows."""
    other = seq + 1 if other is None else other
    a, b = (
        sqlite_rows(db, f"SELECT {', '.join(_SWAP_COLUMNS)} FROM events WHERE seq = ?", (s,))[0]
        for s in (seq, other)
    )
    assert a != b
    assignments = ", ".join(f"{column} = ?" for column in _SWAP_COLUMNS)
    connection = sqlite3.connect(db, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        # event_id is unique: park one row's id first.
        connection.execute("UPDATE events SET event_id = 'parked' WHERE seq = ?", (seq,))
        connection.execute(f"UPDATE events SET {assignments} WHERE seq = ?", (*a, other))
        connection.execute(f"UPDATE events SET {assignments} WHERE seq = ?", (*b, seq))
        connection.execute("COMMIT")
    finally:
        connection.close()


def swap_seqs(db: Path, seq: int) -> None:
    """Reorder two neighbouring rows by exchanging their sequence numbers."""
    sqlite_exec(
        db,
        f"UPDATE events SET seq = -1 WHERE seq = {seq}",
        f"UPDATE events SET seq = {seq} WHERE seq = {seq + 1}",
        f"UPDATE events SET seq = {seq + 1} WHERE seq = -1",
    )


def alter_and_rehash(db: Path, seq: int) -> None:
    """Alter a row and recompute its own hash: the break moves to its successor, it cannot hide."""
    alter_occurred_at(db, seq)
    rehash(db, seq)


def rehash(db: Path, seq: int) -> None:
    """Recompute one row's own chain hash after it was altered."""

    async def rows() -> list:  # type: ignore[type-arg]
        store = await SqliteEventStore.open(db, clock=FixedClock(), create=False, migrate=False)
        try:
            return list(store.iter_rows())
        finally:
            await store.aclose()

    all_rows = anyio.run(rows, backend="asyncio")
    fixed = row_hash(all_rows[seq - 2].hash, all_rows[seq - 1])
    sqlite_exec(db, f"UPDATE events SET hash = X'{fixed}' WHERE seq = {seq}")


def _set(column: str, value: str) -> Callable[[Path, int], None]:
    """A column set with the sqlite3 shell's SQL: `value` is an SQL expression."""

    def tamper(db: Path, seq: int) -> None:
        sqlite_exec(db, f"UPDATE events SET {column} = {value} WHERE seq = {seq}")

    return tamper


def payload_as_text(db: Path, seq: int) -> None:
    """The same JSON, stored as TEXT (what the sqlite3 shell writes for a quoted literal)."""
    sqlite_exec(db, f"UPDATE events SET payload = CAST(payload AS TEXT) WHERE seq = {seq}")


def rename_type(db: Path, seq: int) -> None:
    """Change the name the log's `event_types` gives to the type of the row at `seq` (and so of
    every row of that type)."""
    sqlite_exec(
        db,
        "UPDATE event_types SET name = name || 'd' "
        f"WHERE code = (SELECT type_code FROM events WHERE seq = {seq})",
    )


def retrack(db: Path, seq: int) -> None:
    """Point an event at another track (what `read(track=…)` filters on)."""
    sqlite_exec(
        db,
        f"UPDATE events SET track = CASE WHEN track = 't1' THEN 't2' ELSE 't1' END "
        f"WHERE seq = {seq}",
    )


_CODE_OF_STOPPED = "(SELECT code FROM event_types WHERE name = 'Stopped')"

TAMPERS: dict[str, tuple[Callable[[Path, int], None], int, int]] = {
    # name: (tamper, row it touches, first sequence number verify must name)
    "payload-altered": (alter_payload, 120, 120),
    "occurred-at-altered": (alter_occurred_at, 77, 77),
    "row-deleted": (delete_row, 150, 150),
    "contents-swapped": (swap_contents, 40, 40),
    "rows-reordered": (swap_seqs, 200, 200),
    "first-row-altered": (alter_payload, 1, 1),
    "last-row-altered": (alter_occurred_at, 300, 300),
    "altered-and-rehashed": (alter_and_rehash, 90, 91),
    # Any column, whatever storage class the edit left in it:
    "payload-as-text": (payload_as_text, 60, 60),
    "payload-as-integer": (_set("payload", "42"), 61, 61),
    "event-id-as-text": (_set("event_id", "'0190a0b2-7c1e-7d3a-9f00-0123456789ab'"), 62, 62),
    "type-renamed": (
        _set("type_code", "(SELECT code FROM event_types WHERE name = 'Stopped')"),
        63,
        63,
    ),
    "type-code-unknown": (_set("type_code", "999"), 70, 70),
    "type-code-as-text": (_set("type_code", "'PositionReported'"), 71, 71),
    "type-name-altered": (rename_type, 1, 1),
    "version-as-real": (_set("version", "1.5"), 64, 64),
    "occurred-at-as-text": (_set("occurred_at", "'yesterday'"), 65, 65),
    "recorded-at-altered": (_set("recorded_lag", "recorded_lag - 1"), 66, 66),
    "hash-as-text": (_set("hash", "lower(hex(hash))"), 67, 67),
    "track-altered": (retrack, 68, 68),
    "chain-format-altered": (_set("chain", "1"), 69, 69),
}


@pytest.fixture(params=sorted(TAMPERS))
def tampered(request: pytest.FixtureRequest, populated_db: Path) -> tuple[Path, int]:
    tamper, seq, first_bad = TAMPERS[str(request.param)]
    tamper(populated_db, seq)
    return populated_db, first_bad
