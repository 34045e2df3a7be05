"""Stores by where their log lives, and direct access to a PostgreSQL log behind tierbuffer's back
(the PostgreSQL side of `tests.support.events.sqlite_rows` / `sqlite_exec`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from storage.location import PgUrl
from storage.pg_store import PgEventStore
from storage.sqlite_store import SqliteEventStore
from tests.support.events import sqlite_exec, sqlite_rows


async def open_store(
    where: Path | PgUrl, *, clock: Callable[[], int], migrate: bool = True, **options: Any
) -> SqliteEventStore | PgEventStore:
    if isinstance(where, PgUrl):
        return await PgEventStore.open(where, clock=clock, migrate=migrate, **options)
    return await SqliteEventStore.open(
        where, clock=clock, create=migrate, migrate=migrate, **options
    )


def pg_rows(where: PgUrl, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(where.url, autocommit=True) as connection:
        return connection.execute(query, params).fetchall()


def pg_exec(where: PgUrl, *statements: str) -> None:
    """Change the database directly, in one transaction."""
    with psycopg.connect(where.url) as connection:
        for statement in statements:
            connection.execute(statement)


def db_exec(where: Path | PgUrl, *statements: str) -> None:
    if isinstance(where, PgUrl):
        pg_exec(where, *statements)
    else:
        sqlite_exec(where, *statements)


def db_rows(where: Path | PgUrl, query: str) -> list[tuple[Any, ...]]:
    if isinstance(where, PgUrl):
        return pg_rows(where, query)
    return sqlite_rows(where, query)
