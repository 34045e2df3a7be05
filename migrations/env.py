"""Alembic environment.

tierbuffer runs migrations itself (`storage.migrate`) on a connection it passes in through
`config.attributes["connection"]`. Run by hand (`alembic -c migrations/alembic.ini upgrade head`),
it opens the database named by `sqlalchemy.url` (or `-x db=PATH`, or `-x db=postgresql://…`) with
the async aiosqlite or psycopg driver.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from storage.location import is_url
from storage.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def _url() -> str:
    db = context.get_x_argument(as_dictionary=True).get("db")
    if db and is_url(db):
        return "postgresql+psycopg://" + db.split("://", 1)[1]
    if db:
        return f"sqlite+aiosqlite:///{db}"
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database with -x db=PATH")
    return url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    shared = config.attributes.get("connection")
    if shared is not None:
        _run(shared)
    else:
        asyncio.run(_run_standalone(_url()))
