"""Schema upgrades through Alembic, on the async (aiosqlite) engine.

`ensure_schema` brings a database to the head revision (or, with `upgrade=False`, refuses one that
is not there yet, saying what to run). A database stamped with a revision this version does not
know was written by a newer tierbuffer: it is refused and left untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import migrations
from storage.errors import SchemaError
from storage.revisions import Revisions, needs_upgrade
from storage.sqlite_file import translate


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _inspect(connection: Connection) -> tuple[str | None, set[str]]:
    current = MigrationContext.configure(connection).get_current_revision()
    return current, set(inspect(connection).get_table_names())


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _begin_explicitly(engine: AsyncEngine, *, immediate: bool) -> None:
    """Make the check and the upgrade one real transaction (the driver emits no BEGIN for DDL).

    With `immediate`, it holds the write lock from the first read, so processes starting together
    on a new file migrate it one after another instead of racing to create the same tables.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


async def ensure_schema(path: Path, *, upgrade: bool) -> str:
    """Return the revision the database is at after this call (always the head)."""
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    if head is None:
        raise SchemaError(path, "this tierbuffer ships no migrations (a broken installation)")
    known = Revisions(head, frozenset(rev.revision for rev in script.walk_revisions()))
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    _begin_explicitly(engine, immediate=upgrade)
    try:
        async with engine.connect() as connection:
            current, tables = await connection.run_sync(_inspect)
            if not needs_upgrade(path, current, tables, known, upgrade=upgrade):
                return head
            await connection.run_sync(_upgrade, config)
            await connection.commit()
            return head
    except SQLAlchemyError as e:
        raise translate(path, e) from e
    finally:
        await engine.dispose()
