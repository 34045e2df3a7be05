"""The database schema, in SQLAlchemy Core: the target of the Alembic migrations in migrations/.

Application code never creates tables itself; `storage.migrate` runs Alembic.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False),
    Column("type", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("occurred_at", BigInteger, nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    Column("track", Text, nullable=True),
    Column("payload", LargeBinary, nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("event_id", name="uq_events_event_id"),
    Index("ix_events_track", "track"),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", Integer, nullable=False),
    Column("projection_version", Integer, nullable=False),
    Column("state_hash", String(64), nullable=False),
    Column("state", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_snapshots_seq", "seq"),
)
