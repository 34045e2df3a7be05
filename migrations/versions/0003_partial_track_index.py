"""The track index holds only rows that name a track.

Most events are about no track (a player's position reports, seeks, preset changes): their
NULL took an entry each in `ix_events_track`, about 10 of the 156 bytes a listening event cost
on SQLite. `read(track=…)` asks `track = ?`, which implies `track IS NOT NULL`, so SQLite and
PostgreSQL both still use the partial index for it. Only the index is rebuilt: no row changes,
and the chain is untouched.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_NAMED = sa.text("track IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_events_track", table_name="events")
    op.create_index(
        "ix_events_track",
        "events",
        ["track"],
        sqlite_where=_NAMED,
        postgresql_where=_NAMED,
    )


def downgrade() -> None:
    op.drop_index("ix_events_track", table_name="events")
    op.create_index("ix_events_track", "events", ["track"])
