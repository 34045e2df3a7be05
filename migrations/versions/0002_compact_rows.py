"""Compact rows and chain format 2; snapshots bound to the chain.

The event id becomes its 16 bytes and the hash its 32-byte digest; `chain` says how each row's
hash was computed (1: every row written before this revision, which keep verifying exactly as
they were written; 2: rows appended from now on, with the track under the hash). Snapshots get
`chain_hash`, the hash of the event at their sequence number; snapshots written before have
none and are not used (the log is replayed instead, once).

The upgrade rewrites the table in place, in one transaction. A value the old code could not have
written (an id that is not a canonical UUID, a hash that is not 64 lower-case hex digits) is
copied as it is, so `verify` still names the row it was changed in.

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


def _id(value: Any) -> Any:
    if isinstance(value, str) and _UUID.fullmatch(value):
        return bytes.fromhex(value.replace("-", ""))
    return value


def _digest(value: Any) -> Any:
    if isinstance(value, str) and _HEX64.fullmatch(value):
        return bytes.fromhex(value)
    return value


def _copy_rows() -> None:
    bind = op.get_bind()
    after = -(2**63)
    while True:
        rows = bind.exec_driver_sql(
            "SELECT seq, event_id, type, version, occurred_at, recorded_at, payload, hash, track "
            f"FROM events WHERE seq > ? ORDER BY seq LIMIT {_PAGE}",
            (after,),
        ).fetchall()
        if not rows:
            return
        bind.exec_driver_sql(
            "INSERT INTO events_0002 (seq, event_id, type, version, occurred_at, recorded_at, "
            "payload, hash, track, chain) VALUES (?,?,?,?,?,?,?,?,?,1)",
            [(r[0], _id(r[1]), *r[2:7], _digest(r[7]), r[8]) for r in rows],
        )
        after = rows[-1][0]


def upgrade() -> None:
    op.create_table(
        "events_0002",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
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
    _copy_rows()
    op.drop_index("ix_events_track", table_name="events")
    op.drop_table("events")
    op.rename_table("events_0002", "events")
    op.create_index("ix_events_track", "events", ["track"])
    op.add_column("snapshots", sa.Column("chain_hash", sa.LargeBinary(32), nullable=True))


def downgrade() -> None:
    raise NotImplementedError(
        "rows of chain format 2 cannot be written back in format 1: restore a backup instead"
    )
