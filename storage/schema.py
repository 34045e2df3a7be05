"""The database schema, in SQLAlchemy Core: the target of the Alembic migrations in migrations/.

Application code never creates tables itself; `storage.migrate` runs Alembic.

`events` holds the log (`storage.row.LogRow`): the event id as its 16 bytes and the chain hash as
its 32-byte digest (`storage.sqlite_rows`), `chain` the format the hash was computed with
(`storage.chain`); the type as its code (`type_code`, named in `event_types`,
`storage.type_codes`) and recorded-at as `recorded_lag`, its distance from occurred-at in ms
(`storage.row.STORED_COLUMNS`). A snapshot is bound to the chain by `chain_hash`, the hash of
the event at its `seq`. `ix_events_track` is partial: it leaves out the rows whose track is NULL.

Sequence numbers are 64-bit on both dialects: SQLite's INTEGER is (and must stay spelled so, to be
the rowid), PostgreSQL's INTEGER is not, so `seq` is BIGINT there.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

#: INTEGER on SQLite (the rowid alias, 64-bit), BIGINT elsewhere.
SEQ = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=False),
    Column("event_id", LargeBinary(16), nullable=False),
    Column("type_code", SmallInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("occurred_at", BigInteger, nullable=False),
    Column("recorded_lag", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    Column("track", Text, nullable=True),
    Column("chain", Integer, nullable=False),
    UniqueConstraint("event_id", name="uq_events_event_id"),
    # Only the rows that name a track (most events name none): `track = ?` implies it.
    Index(
        "ix_events_track",
        "track",
        sqlite_where=text("track IS NOT NULL"),
        postgresql_where=text("track IS NOT NULL"),
    ),
)

event_types = Table(
    "event_types",
    metadata,
    Column("code", SmallInteger, primary_key=True, autoincrement=False),
    Column("name", String(64), nullable=False),
    UniqueConstraint("name", name="uq_event_types_name"),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", SEQ, nullable=False),
    Column("projection_version", Integer, nullable=False),
    Column("state_hash", String(64), nullable=False),
    Column("state", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("chain_hash", LargeBinary(32), nullable=True),
    Index("ix_snapshots_seq", "seq"),
)
