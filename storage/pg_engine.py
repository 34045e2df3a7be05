"""SQLAlchemy engines on a PostgreSQL log (psycopg 3), and Core statements made ready for the
driver.

`PgEngines` builds the async engine the store's tasks use and the sync engine of the blocking
walks (replay, verification, in a worker thread), both on connections with the settings every
store connection has: the store's `application_name` and a `lock_timeout` (how long an append
waits for the append lock) added to the URL's own `options`.

`DriverStatement` is a Core statement compiled once to PostgreSQL's SQL, for the two paths where
SQLAlchemy's per-execute work costs more than the target allows (the optimistic append, the
bulk walk; each says so with its figure): they run it on the psycopg connection the engine's
pool handed out. The statement is still written in Core, from the `Table`s of `storage.schema`.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.expression import ClauseElement

from storage.location import PgUrl

#: The dialect statements are compiled for (the engines' own, psycopg 3).
DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]  # its __init__ has no hints
#: The errors a PostgreSQL store catches: the driver's, and SQLAlchemy's wrapping of them.
DRIVER_ERRORS = (psycopg.Error, SQLAlchemyError)


def driver_connection(raw: Any) -> Any:
    """The driver's connection under a pool's connection record (psycopg's)."""
    found = raw.driver_connection
    if found is None:
        raise RuntimeError("the engine's connection has no driver connection (it was closed)")
    return found


#: A bound parameter as the dialect renders it (psycopg's named placeholder, "auto" format); a
#: literal percent sign is doubled, so `%%(` is never one.
_PLACEHOLDER = re.compile(r"(?<!%)%\((\w+)\)s")


class DriverStatement:
    """A Core statement as the dialect's SQL text, with the values of its fixed bound
    parameters (a `LIMIT`, a lock key): `params(**values)` adds the variable ones.

    Its parameters are sent in binary (psycopg's `%(name)b`): the dialect renders `%(name)s`,
    with which psycopg sends a list as an array in text, every bytea in it hex-escaped; a batch
    of 1 000 rows went in at about half the speed (measured on this machine, 3 rounds of 50
    batches interleaved: 18 000-31 000 events/s against 24 000-59 000 in binary)."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=DIALECT)
        self.statement = statement
        self.sql: str = _PLACEHOLDER.sub(r"%(\1)b", compiled.string)
        self._fixed = {k: v for k, v in compiled.params.items() if v is not None}

    def params(self, **values: Any) -> dict[str, Any]:
        return {**self._fixed, **values}


class PgEngines:
    """The engines of one store on one database."""

    def __init__(self, where: PgUrl, *, name: str, busy_timeout_s: float | None = None) -> None:
        """`busy_timeout_s`: how long a statement waits for a lock (None: the server's
        setting)."""
        self.where = where
        self._kwargs: dict[str, Any] = {"application_name": name}
        if busy_timeout_s is not None:
            given = psycopg.conninfo.conninfo_to_dict(where.url).get("options") or ""
            # Added to the URL's own options (a search_path, say), not in their place.
            timeout = f"-c lock_timeout={int(busy_timeout_s * 1000)}"
            self._kwargs["options"] = f"{given} {timeout}".strip()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self.where.url, **self._kwargs)

    def _connect_sync(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.where.url, **self._kwargs)

    def async_engine(self, *, pooled: bool = True) -> AsyncEngine:
        """Connections begin transactions as SQLAlchemy's do; a caller that wants each
        statement to be its own transaction asks for `isolation_level="AUTOCOMMIT"`."""
        extra: dict[str, Any] = {} if pooled else {"poolclass": NullPool}
        return create_async_engine("postgresql+psycopg://", async_creator=self._connect, **extra)

    def sync_engine(self) -> Engine:
        return create_engine("postgresql+psycopg://", creator=self._connect_sync)
