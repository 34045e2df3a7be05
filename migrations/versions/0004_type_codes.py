"""The event type as a small integer code, recorded-at as its distance from occurred-at.

A listening event took about 146 bytes of an SQLite log, 16 of them its type's name and 6 its
recorded-at timestamp. The type becomes `type_code` (the codes below, named in the new
`event_types` table); recorded-at becomes `recorded_lag`, recorded_at - occurred_at in ms, which
SQLite keeps in one byte or none when the event is recorded as it happens. The chain hashes the
logical values (the type's name, recorded-at), so every row keeps its hash and keeps verifying,
and new rows chain on.

The upgrade rewrites the table in place, in one transaction, as 0002 did (on SQLite the new table
is built beside the old and renamed; on PostgreSQL the old is renamed out of the way first). A
value the old code could not have written is kept so that `verify` still names its row: a type
name that is no event type gets a code of its own from 1000 up, named in `event_types`; a type
that is not TEXT (SQLite) is copied as it is, and so is a recorded-at that is not an integer or
whose distance from occurred-at does not fit 64 bits (it then reads back otherwise than it was
hashed). The downgrade writes the names and timestamps back.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: The codes of this revision (`storage.type_codes.TYPE_CODES` as it was written here).
CODES = {
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
FOREIGN_FROM = 1000
_PAGE = 5000
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_INT64 = range(-(2**63), 2**63)
_NAMED = sa.text("track IS NOT NULL")
_NAMED_COLUMNS = (
    "seq", "event_id", "type", "version", "occurred_at", "recorded_at", "payload", "hash",
    "track", "chain",
)  # fmt: skip
_CODED_COLUMNS = (
    "seq", "event_id", "type_code", "version", "occurred_at", "recorded_lag", "payload", "hash",
    "track", "chain",
)  # fmt: skip


def _create_events(name: str, *, coded: bool) -> None:
    kind = sa.Column("type_code", sa.SmallInteger(), nullable=False)
    recorded = sa.Column("recorded_lag", sa.BigInteger(), nullable=False)
    if not coded:
        kind = sa.Column("type", sa.String(64), nullable=False)
        recorded = sa.Column("recorded_at", sa.BigInteger(), nullable=False)
    op.create_table(
        name,
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.LargeBinary(16), nullable=False),
        kind,
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        recorded,
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.Column("track", sa.Text(), nullable=True),
        sa.Column("chain", sa.Integer(), nullable=False),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
    )


Convert = Callable[[tuple[Any, ...]], tuple[Any, ...]]


def _copy_rows(source: str, target: str, coded: bool, convert: Convert) -> None:
    """Every row of `source` into `target` (of the coded layout or not), page by page, each
    converted by `convert`."""
    bind = op.get_bind()
    mark = "?" if bind.dialect.paramstyle == "qmark" else "%s"
    read, write = (_NAMED_COLUMNS, _CODED_COLUMNS) if coded else (_CODED_COLUMNS, _NAMED_COLUMNS)
    after = -(2**63)
    while True:
        rows = bind.exec_driver_sql(
            f"SELECT {', '.join(read)} FROM {source} WHERE seq > {mark} ORDER BY seq LIMIT {_PAGE}",
            (after,),
        ).fetchall()
        if not rows:
            return
        bind.exec_driver_sql(
            f"INSERT INTO {target} ({', '.join(write)}) VALUES ({', '.join([mark] * len(write))})",
            [convert(tuple(r)) for r in rows],
        )
        after = rows[-1][0]


class _Coder:
    """Old row -> new row: the type's code (new codes for foreign names, kept in `foreign`) and
    recorded-at's distance from occurred-at."""

    def __init__(self) -> None:
        self.codes = dict(CODES)
        self.foreign: list[tuple[int, str]] = []

    def code(self, name: Any) -> Any:
        if not isinstance(name, str):
            return name  # SQLite only: a BLOB where a name was, named by the reader
        code = self.codes.get(name)
        if code is None:
            code = FOREIGN_FROM + len(self.foreign)
            self.codes[name] = code
            self.foreign.append((code, name))
        return code

    def __call__(self, r: tuple[Any, ...]) -> tuple[Any, ...]:
        seq, event_id, name, version, occurred_at, recorded_at, *tail = r
        lag = recorded_at
        if type(occurred_at) is int and type(recorded_at) is int:
            # Both in [0, 2^63) as tierbuffer writes them, the distance fits 64 bits; when it
            # does not, recorded-at is kept as it is and reads back otherwise than it was hashed.
            if recorded_at - occurred_at in _INT64:
                lag = recorded_at - occurred_at
        return (seq, event_id, self.code(name), version, occurred_at, lag, *tail)


def _fill_types(pairs: list[tuple[int, str]]) -> None:
    table = sa.table("event_types", sa.column("code"), sa.column("name"))
    if pairs:
        op.bulk_insert(table, [{"code": code, "name": name} for code, name in pairs])


def _uncoder() -> Convert:
    names = dict(op.get_bind().exec_driver_sql("SELECT code, name FROM event_types").fetchall())

    def convert(r: tuple[Any, ...]) -> tuple[Any, ...]:
        seq, event_id, code, version, occurred_at, lag, *tail = r
        name = names.get(code, code)
        both = type(occurred_at) is int and type(lag) is int
        return (
            seq,
            event_id,
            name,
            version,
            occurred_at,
            occurred_at + lag if both else lag,
            *tail,
        )

    return convert


def _rebuild(*, coded: bool, convert: Convert) -> None:
    op.drop_index("ix_events_track", table_name="events")
    if op.get_bind().dialect.name == "sqlite":
        _create_events("events_next", coded=coded)
        _copy_rows("events", "events_next", coded, convert)
        op.drop_table("events")
        op.rename_table("events_next", "events")
    else:  # constraint and index names are unique in the whole schema: rename the old first
        op.drop_constraint("uq_events_event_id", "events", type_="unique")
        op.rename_table("events", "events_old")
        op.execute("ALTER INDEX events_pkey RENAME TO events_old_pkey")
        _create_events("events", coded=coded)
        _copy_rows("events_old", "events", coded, convert)
        op.drop_table("events_old")
    op.create_index(
        "ix_events_track", "events", ["track"], sqlite_where=_NAMED, postgresql_where=_NAMED
    )


def upgrade() -> None:
    op.create_table(
        "event_types",
        sa.Column("code", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.UniqueConstraint("name", name="uq_event_types_name"),
    )
    coder = _Coder()
    _rebuild(coded=True, convert=coder)
    _fill_types(sorted((code, name) for name, code in CODES.items()) + coder.foreign)


def downgrade() -> None:
    _rebuild(coded=False, convert=_uncoder())
    op.drop_table("event_types")
