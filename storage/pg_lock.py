"""A session-level advisory lock on a PostgreSQL log: held by a connection of its own for as long
as its holder runs, released when it lets go or its session ends (the process exits or is
killed, or its host goes away and the server notices), so a crashed holder never blocks the
next. Keyed on the log's schema, like the append lock. The holder names itself in
`application_name`, which is how a refused attempt can say who holds it."""

from __future__ import annotations

import os
import socket
from typing import Any, Final

import psycopg

from storage.location import PgUrl
from storage.pg_errors import translate

#: `pg_try_advisory_lock(SERVICE_LOCK, hashtext(current_schema()))`.
SERVICE_LOCK: Final = 0x7473

_HOLDER = """SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objsubid = 2
AND l.objid::bigint = (hashtext(current_schema())::bigint & 4294967295) LIMIT 1"""


class PgSessionLock:
    def __init__(self, where: PgUrl, *, key: int = SERVICE_LOCK, role: str = "service") -> None:
        self.where = where
        self.key = key
        self.name = f"tierbuffer {role} (pid {os.getpid()} on {socket.gethostname()})"[:63]
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def try_acquire(self) -> str | None:
        """None once held; else who holds it (their `application_name`, maybe empty)."""
        try:
            connection = await psycopg.AsyncConnection.connect(
                self.where.url, autocommit=True, application_name=self.name
            )
        except psycopg.Error as e:
            raise translate(self.where, e) from e
        try:
            cursor = await connection.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (self.key,)
            )
            row = await cursor.fetchone()
            if row is not None and row[0]:
                self._connection = connection
                return None
            cursor = await connection.execute(_HOLDER, (self.key,))
            holder = await cursor.fetchone()
        except psycopg.Error as e:
            await connection.close()
            raise translate(self.where, e) from e
        await connection.close()
        return str(holder[0]) if holder else ""

    async def release(self) -> None:
        """Ends the lock's session, which releases it."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
