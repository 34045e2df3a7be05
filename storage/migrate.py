"""Schema upgrades through Alembic, on the async engine of the log's database (aiosqlite for an
SQLite file, psycopg for PostgreSQL): one history for both.

`ensure_schema` brings a database to the head revision (or, with `upgrade=False`, refuses one that
is not there yet, saying what to run). A database stamped with a revision this version does not
know was written by a newer tierbuffer: it is refused and left untouched, and so is one holding
tables of another application. Processes starting together on a new database migrate it one
after another: SQLite's `BEGIN IMMEDIATE`, PostgreSQL's transaction-scoped advisory lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage import sqlite_file
from storage.errors import SchemaError, StoreError
from storage.location import Location, PgUrl
from storage.revisions import Revisions, alembic_config, needs_upgrade

#: The advisory lock (two int4 keys) that serialises migrations of one PostgreSQL database.
MIGRATION_LOCK = (0x7462, 0x6D67)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _inspect(connection: Connection) -> tuple[str | None, set[str]]:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock({}, {})".format(*MIGRATION_LOCK)))
    current = MigrationContext.configure(connection).get_current_revision()
    return current, set(inspect(connection).get_table_names())


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _begin_explicitly(engine: AsyncEngine, *, immediate: bool) -> None:
    """SQLite: make the check and the upgrade one real transaction (the driver emits no BEGIN
    for DDL). With `immediate`, it holds the write lock from the first read, so processes
    starting together on a new file migrate it one after another instead of racing."""

    @event.listens_for(engine.sync_engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def engine_for(where: Location) -> AsyncEngine:
    """An async SQLAlchemy engine on the log's database."""
    if isinstance(where, PgUrl):
        import psycopg

        async def connect() -> Any:
            return await psycopg.AsyncConnection.connect(where.url)

        return create_async_engine("postgresql+psycopg://", async_creator=connect)
    return create_async_engine(f"sqlite+aiosqlite:///{where}")


def translate(where: Location, error: BaseException) -> StoreError:
    if isinstance(where, PgUrl):
        from storage import pg_errors

        return pg_errors.translate(where, error)
    return sqlite_file.translate(where, error)


async def schema_revision(where: PgUrl) -> str | None:
    """The revision a PostgreSQL log is at (None: no tierbuffer tables yet), changing nothing;
    connection errors, and a schema from a newer tierbuffer or another application, raise."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    if head is None:
        raise SchemaError(where, "this tierbuffer ships no migrations (a broken installation)")
    known = Revisions(head, frozenset(rev.revision for rev in script.walk_revisions()))
    engine = engine_for(where)
    try:
        async with engine.connect() as connection:
            current, tables = await connection.run_sync(_inspect)
    except SQLAlchemyError as e:
        raise translate(where, e) from e
    finally:
        await engine.dispose()
    needs_upgrade(where, current, tables, known, upgrade=True)
    return current


async def ensure_schema(where: Location, *, upgrade: bool) -> str:
    """Return the revision the database is at after this call (always the head)."""
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    if head is None:
        raise SchemaError(where, "this tierbuffer ships no migrations (a broken installation)")
    known = Revisions(head, frozenset(rev.revision for rev in script.walk_revisions()))
    engine = engine_for(where)
    if isinstance(where, Path):
        _begin_explicitly(engine, immediate=upgrade)
    try:
        async with engine.connect() as connection:
            current, tables = await connection.run_sync(_inspect)
            if not needs_upgrade(where, current, tables, known, upgrade=upgrade):
                return head
            await connection.run_sync(_upgrade, config)
            await connection.commit()
            return head
    except SQLAlchemyError as e:
        raise translate(where, e) from e
    finally:
        await engine.dispose()
