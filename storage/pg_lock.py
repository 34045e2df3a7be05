"""A session-level advisory lock on a PostgreSQL log: held by a connection of its own for as long
as its holder runs, released when it lets go or its session ends (the process exits or is
killed, or its host goes away and the server notices), so a crashed holder never blocks the
next. Keyed on the log's schema, like the append lock. The holder names itself in
`application_name`, which is how a refused attempt can say who holds it."""

from __future__ import annotations

import os
import socket
from typing import Any, Final

from sqlalchemy import BigInteger, ColumnElement, Select, and_, cast, column, func, select, table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.location import PgUrl
from storage.pg_engine import DRIVER_ERRORS, PgEngines
from storage.pg_errors import translate

#: `pg_try_advisory_lock(SERVICE_LOCK, hashtext(current_schema()))`.
SERVICE_LOCK: Final = 0x7473

_pg_locks = table(
    "pg_locks",
    column("pid"),
    column("locktype"),
    column("granted"),
    column("classid"),
    column("objid"),
    column("objsubid"),
)
_pg_stat_activity = table("pg_stat_activity", column("pid"), column("application_name"))


def _schema_key() -> ColumnElement[Any]:
    return func.hashtext(func.current_schema())


def _holder(key: int) -> Select[Any]:
    """Who holds the lock: a two-key advisory lock shows its keys as `classid` and `objid`
    (the second as unsigned 32 bits) with `objsubid` 2."""
    unsigned = cast(_schema_key(), BigInteger).op("&")(4294967295)
    return (
        select(_pg_stat_activity.c.application_name)
        .select_from(_pg_locks.join(_pg_stat_activity, _pg_stat_activity.c.pid == _pg_locks.c.pid))
        .where(
            and_(
                _pg_locks.c.locktype == "advisory",
                _pg_locks.c.granted,
                _pg_locks.c.classid == key,
                _pg_locks.c.objsubid == 2,
                cast(_pg_locks.c.objid, BigInteger) == unsigned,
            )
        )
        .limit(1)
    )


class PgSessionLock:
    def __init__(self, where: PgUrl, *, key: int = SERVICE_LOCK, role: str = "service") -> None:
        self.where = where
        self.key = key
        self.name = f"tierbuffer {role} (pid {os.getpid()} on {socket.gethostname()})"[:63]
        self._engine: AsyncEngine | None = None
        self._connection: AsyncConnection | None = None

    async def try_acquire(self) -> str | None:
        """None once held; else who holds it (their `application_name`, maybe empty)."""
        # No pool: the lock lives as long as this connection's session, closed on release.
        engine = PgEngines(self.where, name=self.name).async_engine(pooled=False)
        try:
            connection = await engine.connect()
        except DRIVER_ERRORS as e:
            await engine.dispose()
            raise translate(self.where, e) from e
        try:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            taken = select(func.pg_try_advisory_lock(self.key, _schema_key()))
            if (await connection.execute(taken)).scalar():
                self._engine, self._connection = engine, connection
                return None
            holder = (await connection.execute(_holder(self.key))).scalar()
        except DRIVER_ERRORS as e:
            await connection.close()
            await engine.dispose()
            raise translate(self.where, e) from e
        await connection.close()
        await engine.dispose()
        return "" if holder is None else str(holder)

    async def release(self) -> None:
        """Ends the lock's session, which releases it."""
        if self._connection is not None and self._engine is not None:
            await self._connection.close()
            await self._engine.dispose()
            self._connection = self._engine = None
