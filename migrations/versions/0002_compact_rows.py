"""Compact rows and chain format 2; snapshots bound to the chain.

The event id becomes its 16 bytes and the hash its 32-byte digest; `chain` says how each row's
hash was computed (1: every row written before this revision, which keep verifying exactly as
they were written; 2: rows appended from now on, with the track under the hash). Snapshots get
`chain_hash`, the hash of the event at their sequence number; snapshots written before have
none and are not used (the log is replayed instead, once).

The upgrade rewrites the table in place, in one transaction. A value the old code could not have
written (an id that is not a canonical UUID, a hash that is not 64 lower-case hex digits) is
copied as it is, so `verify` still names the row it was changed in (on PostgreSQL, whose columns
are typed, as its UTF-8 bytes: a BLOB of the wrong size, named all the same).

One history for both dialects. On SQLite the new table is built beside the old and renamed; on
PostgreSQL, where constraint and index names are unique in the whole schema, the old table is
renamed out of the way first and the new one created under the final names.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_PAGE = 5000
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id(value: Any, typed: bool) -> Any:
    if isinstance(value, str) and _UUID.fullmatch(value):
        return bytes.fromhex(value.replace("-", ""))
    return value.encode() if typed and isinstance(value, str) else value


def _digest(value: Any, typed: bool) -> Any:
    if isinstance(value, str) and _HEX64.fullmatch(value):
        return bytes.fromhex(value)
    return value.encode() if typed and isinstance(value, str) else value


def _copy_rows(source: str, target: str) -> None:
    bind = op.get_bind()
    typed = bind.dialect.name != "sqlite"
    mark = "?" if bind.dialect.paramstyle == "qmark" else "%s"
    after = -(2**63)
    while True:
        rows = bind.exec_driver_sql(
            "SELECT seq, event_id, type, version, occurred_at, recorded_at, payload, hash, track "
            f"FROM {source} WHERE seq > {mark} ORDER BY seq LIMIT {_PAGE}",
            (after,),
        ).fetchall()
        if not rows:
            return
        bind.exec_driver_sql(
            f"INSERT INTO {target} (seq, event_id, type, version, occurred_at, recorded_at, "
            f"payload, hash, track, chain) VALUES ({', '.join([mark] * 9)}, 1)",
            [(r[0], _id(r[1], typed), *r[2:7], _digest(r[7], typed), r[8]) for r in rows],
        )
        after = rows[-1][0]


def _create_events(name: str) -> None:
    op.create_table(
        name,
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.LargeBinary(16), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.Column("track", sa.Text(), nullable=True),
        sa.Column("chain", sa.Integer(), nullable=False),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
    )


def _upgrade_sqlite() -> None:
    _create_events("events_0002")
    _copy_rows("events", "events_0002")
    op.drop_index("ix_events_track", table_name="events")
    op.drop_table("events")
    op.rename_table("events_0002", "events")


def _upgrade_renaming_first() -> None:
    op.drop_index("ix_events_track", table_name="events")
    op.drop_constraint("uq_events_event_id", "events", type_="unique")
    op.rename_table("events", "events_0001")
    op.execute("ALTER INDEX events_pkey RENAME TO events_0001_pkey")
    _create_events("events")
    _copy_rows("events_0001", "events")
    op.drop_table("events_0001")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _upgrade_sqlite()
    else:
        _upgrade_renaming_first()
    op.create_index("ix_events_track", "events", ["track"])
    op.add_column("snapshots", sa.Column("chain_hash", sa.LargeBinary(32), nullable=True))


def downgrade() -> None:
    raise NotImplementedError(
        "rows of chain format 2 cannot be written back in format 1: restore a backup instead"
    )
