"""The write side of the PostgreSQL event store: group commit, one round trip per commit.

Appends are prepared (validated, encoded) by their callers and gathered: the first append finds
no commit in flight and leads; every append that arrives while its commit is on the wire joins
the next group, so appends that arrive together share one transaction (group commit).

A commit is optimistic. The writer keeps the chain head (last sequence number and hash) of its
own last commit and sends the whole group as ONE statement, which is its own transaction: take
the append lock (a transaction-scoped advisory lock, the same for every process on this log),
insert the rows (one `unnest` of column arrays), and `pg_notify` the new head to followers. The
rows' sequence numbers and hashes were computed from the head in memory; if another process
appended since, or an event id is already stored, the primary key on `seq` or the unique event id
refuses the statement whole, and nothing of it is written. The group is then committed the
careful way: in a transaction that takes the lock first, looks the stored ids up, reads the head
and only then computes the chain, inserts and commits. After such a conflict the writer stays
careful for a second, so processes appending side by side do not keep colliding.

Each caller is answered after its commit returned. A caller that is cancelled while waiting is
simply not answered; its events may or may not have been committed, and retrying with the same
event ids is safe. The leader's commit is shielded from its own cancellation: it answers the
others first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import anyio
import msgspec
import psycopg

from storage.batch import Assigned, Prepared, assign
from storage.chain import GENESIS_DIGEST
from storage.errors import DatabaseError, MalformedRowError, StoreClosedError, StoreError
from storage.location import PgUrl
from storage.pg_errors import translate
from storage.row import COLUMNS

#: The append lock: `pg_advisory_xact_lock(APPEND_LOCK, hashtext(current_schema()))`, one per log.
APPEND_LOCK: Final = 0x7462
LOCK_SQL: Final = f"pg_advisory_xact_lock({APPEND_LOCK}, hashtext(current_schema()))"
_TYPES = ("bigint", "bytea", "text", "int", "bigint", "bigint", "bytea", "bytea", "text", "int")
_UNNEST = ", ".join(f"%b::{t}[]" for t in _TYPES)
_INSERT = f"INSERT INTO events ({', '.join(COLUMNS)}) SELECT * FROM unnest({_UNNEST})"
#: The optimistic commit: lock, insert, notify; one statement, hence one transaction.
_FAST = (
    f"WITH locked AS MATERIALIZED (SELECT {LOCK_SQL}), "
    f"ins AS (INSERT INTO events ({', '.join(COLUMNS)}) "
    f"SELECT v.* FROM unnest({_UNNEST}) AS v CROSS JOIN locked RETURNING seq) "
    "SELECT count(*), pg_notify(%s, max(seq)::text) FROM ins"
)
#: The same for a group of one row (a single append arriving alone, the common case): scalar
#: parameters instead of ten one-element arrays, cheaper to encode and to plan.
_ONE = ", ".join(f"%b::{t}" for t in _TYPES)
_FAST_ONE = (
    f"WITH locked AS MATERIALIZED (SELECT {LOCK_SQL}), "
    f"ins AS (INSERT INTO events ({', '.join(COLUMNS)}) "
    f"SELECT v.* FROM (VALUES ({_ONE})) AS v CROSS JOIN locked RETURNING seq) "
    "SELECT count(*), pg_notify(%s, max(seq)::text) FROM ins"
)
#: How long the writer commits the careful way after a conflict with another process.
CAREFUL_S: Final = 1.0

Outcome = list[list[int]] | BaseException


def channel_sql() -> str:
    """The notification channel of the log in the connection's schema."""
    return "'tierbuffer_events_' || current_schema()"


class _Request(msgspec.Struct):
    prepared: list[Prepared]
    future: asyncio.Future[list[int]]


def _columns(assigned: Assigned, recorded_at: int) -> list[list[Any]]:
    return [list(column) for column in zip(*assigned.rows(recorded_at), strict=True)]


class PgWriter:
    def __init__(
        self,
        where: PgUrl,
        connect: Callable[[], Any],
        *,
        clock: Callable[[], int],
        channel: str,
    ) -> None:
        self.where = where
        self._connect = connect
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._clock = clock
        self._channel = channel
        self._pending: list[_Request] = []
        self._flushing = False
        self._idle = anyio.Event()
        self._idle.set()
        self._head: tuple[int, bytes] | None = None
        self._careful_until = 0.0
        self._closed = False
        #: Transactions committed (one per group): what group commit saves shows here.
        self.commits = 0

    async def append(self, prepared: list[Prepared]) -> list[int]:
        if self._closed:
            raise StoreClosedError()
        request = _Request(prepared, asyncio.get_running_loop().create_future())
        self._pending.append(request)
        if not self._flushing:
            self._flushing, self._idle = True, anyio.Event()
            try:
                await asyncio.sleep(0)  # let appends of this loop iteration join the group
                with anyio.CancelScope(shield=True):
                    await self._drain()
            finally:
                self._flushing = False
                self._idle.set()
        return await request.future

    async def aclose(self) -> None:
        self._closed = True
        await self._idle.wait()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _drain(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            outcome = await self._commit([r.prepared for r in group])
            answers: Sequence[Any] = (
                outcome if isinstance(outcome, list) else [outcome] * len(group)
            )
            for request, answer in zip(group, answers, strict=True):
                if request.future.done():  # its caller was cancelled
                    continue
                if isinstance(answer, BaseException):
                    request.future.set_exception(answer)
                else:
                    request.future.set_result(answer)

    async def _commit(self, batches: list[list[Prepared]]) -> Outcome:
        try:
            connection = await self._connected()
            recorded_at = self._clock()
            if self._head is not None and time.monotonic() >= self._careful_until:
                results = await self._optimistic(connection, batches, recorded_at)
                if results is not None:
                    self.commits += 1
                    return results
                self._careful_until = time.monotonic() + CAREFUL_S
            results = await self._careful(connection, batches, recorded_at)
            self.commits += 1
            return results
        except StoreError as e:
            self._head = None
            return e
        except psycopg.Error as e:
            self._head = None
            return translate(self.where, e)

    async def _connected(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is not None and self._connection.broken:
            await self._connection.close()
            self._connection = None
        if self._connection is None:
            self._connection = await self._connect()
        return self._connection

    async def _optimistic(
        self, connection: psycopg.AsyncConnection[Any], batches: list[list[Prepared]], at: int
    ) -> list[list[int]] | None:
        """One statement from the head in memory; None when another process moved the head or
        an id is already stored (nothing was written)."""
        assert self._head is not None
        last_seq, last_hash = self._head
        assigned = assign(
            batches, last_seq=last_seq, last_hash=last_hash, existing={}, recorded_at=at
        )
        if not assigned.new:
            return assigned.results
        if len(assigned.new) == 1:
            statement, values = _FAST_ONE, [*assigned.rows(at)[0], self._channel]
        else:
            statement, values = _FAST, [*_columns(assigned, at), self._channel]
        try:
            cursor = await connection.execute(statement, values, prepare=True)
        except psycopg.errors.UniqueViolation:
            return None
        found = await cursor.fetchone()
        if found is None or found[0] != len(assigned.new):
            raise DatabaseError(self.where, "the append statement wrote another number of rows")
        self._head = (assigned.head_seq, assigned.head)
        return assigned.results

    async def _careful(
        self, connection: psycopg.AsyncConnection[Any], batches: list[list[Prepared]], at: int
    ) -> list[list[int]]:
        """Under the append lock: stored ids and the head read first, then the chain."""
        self._head = None
        async with connection.transaction():
            await connection.execute(f"SELECT {LOCK_SQL}")
            existing = await _stored_ids(connection, batches)
            last_seq, last_hash = await _chain_head(connection)
            assigned = assign(
                batches, last_seq=last_seq, last_hash=last_hash, existing=existing, recorded_at=at
            )
            if assigned.new:
                await connection.execute(_INSERT, _columns(assigned, at), prepare=True)
                await connection.execute(
                    "SELECT pg_notify(%s, %s)", (self._channel, str(assigned.head_seq))
                )
        self._head = (assigned.head_seq, assigned.head)
        return assigned.results


async def _stored_ids(
    connection: psycopg.AsyncConnection[Any], batches: list[list[Prepared]]
) -> dict[str, int]:
    ids = {p.id16: p.event_id for batch in batches for p in batch}
    cursor = await connection.execute(
        "SELECT event_id, seq FROM events WHERE event_id = ANY(%b::bytea[])", [list(ids)]
    )
    return {ids[bytes(raw)]: seq for raw, seq in await cursor.fetchall()}


async def _chain_head(connection: psycopg.AsyncConnection[Any]) -> tuple[int, bytes]:
    cursor = await connection.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
    last = await cursor.fetchone()
    if last is None:
        return 0, GENESIS_DIGEST
    seq, digest = last
    digest = bytes(digest)
    if len(digest) != 32:
        raise MalformedRowError(seq, "its hash is not a 32-byte digest: cannot chain onto it")
    return int(seq), digest
