"""The anchors the log's benchmarks are measured against, doing the same work in the same run:

- raw sqlite3: the same rows (ids, hashes, payloads precomputed) into the same schema, with the
  store's pragmas (WAL, the same `synchronous`, automatic checkpoints off and a `Checkpointer`
  thread doing them the same way);
- the `eventsourcing` library's SQLite persistence (`pip install ".[bench]"`): an application
  saving one aggregate event per call, its recorder inserting mapped events in batches, and a
  replay that selects notifications, deserialises them and projects them with our fold.

Every anchor checks what it wrote (row counts) before its figure is used.
"""

from __future__ import annotations

import functools
import itertools
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from domain.events import DomainEvent, NewEvent, Recorded
from domain.projection import evolve
from domain.state import State
from storage.batch import assign, prepare
from storage.chain import GENESIS_DIGEST
from storage.checkpoint import Checkpointer
from storage.row import STORED_COLUMNS
from storage.type_codes import SELECT_NAMES, TypeNames

INSERT = (
    f"INSERT INTO events ({', '.join(STORED_COLUMNS)}) "
    f"VALUES ({','.join('?' * len(STORED_COLUMNS))})"
)


def raw_values(events: list[NewEvent], codec: Any) -> list[tuple[Any, ...]]:
    """The rows tierbuffer would write for `events`, as values for `INSERT`."""
    assigned = assign(
        [prepare(codec, events)], last_seq=0, last_hash=GENESIS_DIGEST, existing={}, recorded_at=0
    )
    return list(assigned.rows(0))


def _insert_many(connection: sqlite3.Connection, rows: list[tuple[Any, ...]], per: int) -> None:
    """`rows` as INSERTs of `per` rows each (the last may hold fewer)."""
    one = f"({','.join('?' * len(STORED_COLUMNS))})"
    into = f"INSERT INTO events ({', '.join(STORED_COLUMNS)}) VALUES "
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        sql = into + ",".join([one] * len(chunk))
        connection.execute(sql, list(itertools.chain.from_iterable(chunk)))


def raw_append(
    path: Path,
    values: list[tuple[Any, ...]],
    batch: int,
    synchronous: str,
    rows_per_statement: int = 1,
) -> tuple[float, list[float]]:
    """Rows/s and per-commit latencies of plain sqlite3 committing `batch` rows at a time, with
    `executemany` or, given `rows_per_statement`, multi-row INSERTs (as the store writes)."""
    connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous}")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    checkpointer = Checkpointer(path, busy_timeout_s=5.0)
    latencies = []
    started = time.perf_counter()
    for start in range(0, len(values), batch):
        t0 = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        if rows_per_statement > 1:
            _insert_many(connection, values[start : start + batch], rows_per_statement)
        else:
            connection.executemany(INSERT, values[start : start + batch])
        connection.execute("COMMIT")
        checkpointer.committed()
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    checkpointer.close()
    count = connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    connection.close()
    if count != len(values):
        raise SystemExit(f"FAILED: raw sqlite3 wrote {count} of {len(values)} rows")
    return len(values) / elapsed, latencies


def raw_replay_floor(path: Path) -> float:
    """Rows/s of a sqlite3 scan of the log's payloads, each decoded with json.loads."""
    import json

    connection = sqlite3.connect(str(path))
    started = time.perf_counter()
    count = 0
    for (payload,) in connection.execute("SELECT payload FROM events ORDER BY seq"):
        json.loads(payload)
        count += 1
    elapsed = time.perf_counter() - started
    connection.close()
    return count / elapsed


def raw_replay_floor_hashed(path: Path) -> float:
    """The floor plus what verification adds: every column scanned, each row's SHA-256 computed
    (format 2's canonical bytes, `storage.chain`) and its payload decoded with json.loads."""
    import json

    from storage.chain import event_part, link

    connection = sqlite3.connect(str(path))
    prev = GENESIS_DIGEST
    started = time.perf_counter()
    names = TypeNames(connection.execute(SELECT_NAMES)).text
    count = 0
    query = "SELECT seq, event_id, type_code, version, occurred_at, recorded_lag, track, payload, "
    for seq, raw, code, version, at, lag, track, payload, digest in connection.execute(
        query + "hash FROM events ORDER BY seq"
    ):
        part = event_part(raw.hex(), names[code], version, at, track, payload)
        prev = link(prev, seq, at + lag, part)
        if prev != digest:
            raise SystemExit(f"FAILED: the hashed floor disagrees with the chain at {seq}")
        json.loads(payload)
        count += 1
    elapsed = time.perf_counter() - started
    connection.close()
    return count / elapsed


# --- eventsourcing ------------------------------------------------------------------------------


def _eventsourcing(path: Path, synchronous: str) -> Any:
    """An eventsourcing Application on SQLite at `path`, its connections at `synchronous`."""
    try:
        from eventsourcing import sqlite as es_sqlite
        from eventsourcing.application import Application
    except ImportError as e:  # pragma: no cover - the bench extra is missing
        raise SystemExit('the anchors need the bench extra: pip install -e ".[bench]"') from e

    pool = es_sqlite.SQLiteConnectionPool
    if not hasattr(pool, "_tierbuffer_original"):
        pool._tierbuffer_original = pool._create_connection  # type: ignore[attr-defined]

    def create(self: Any) -> Any:
        connection = pool._tierbuffer_original(self)  # type: ignore[attr-defined]
        connection._sqlite_conn.execute(f"PRAGMA synchronous={os.environ['_ES_SYNC']}")
        return connection

    pool._create_connection = create  # type: ignore[method-assign]
    os.environ["_ES_SYNC"] = synchronous
    return Application(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    )


@functools.cache
def _listener_class() -> Any:
    from eventsourcing.domain import Aggregate, event

    class Listener(Aggregate):
        @event("PositionReported")
        def report(self, position_ms: int) -> None:
            self.position_ms = position_ms

    return Listener


@functools.cache
def _listened_class() -> Any:
    from eventsourcing.domain import Aggregate

    class Listened(Aggregate.Event):
        kind: str
        at: int
        fields: dict[str, Any]

    return Listened


def es_single(path: Path, n: int, synchronous: str) -> tuple[float, list[float]]:
    """eventsourcing: one aggregate event saved per `app.save`, as a service would."""
    app = _eventsourcing(path, synchronous)
    listener = _listener_class()()
    app.save(listener)
    latencies = []
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        listener.report(i)
        app.save(listener)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    stored = len(list(app.recorder.select_events(listener.id)))
    app.close()
    if stored != n + 1:
        raise SystemExit(f"FAILED: eventsourcing stored {stored} of {n + 1} events")
    return n / elapsed, latencies


def es_batched(path: Path, n: int, batch: int, synchronous: str) -> float:
    """eventsourcing: aggregate events mapped (encoded) and inserted by its recorder in batches."""
    return es_batched_on(_eventsourcing(path, synchronous), n, batch)


def es_batched_on(app: Any, n: int, batch: int) -> float:
    """`es_batched` on an eventsourcing application of any recorder (SQLite or PostgreSQL)."""
    listener = _listener_class()()
    for i in range(n):
        listener.report(i)
    pending = listener.collect_events()
    started = time.perf_counter()
    for start in range(0, len(pending), batch):
        stored = [app.mapper.to_stored_event(e) for e in pending[start : start + batch]]
        app.recorder.insert_events(stored)
    elapsed = time.perf_counter() - started
    count = app.recorder.max_notification_id()
    app.close()
    if count != len(pending):
        raise SystemExit(f"FAILED: eventsourcing recorded {count} of {len(pending)} events")
    return (len(pending) - 1) / elapsed


def es_build(path: Path, events: Iterator[NewEvent], batch: int = 5000) -> int:
    """Store a listening log as eventsourcing aggregate events (payload: our event's fields)."""
    return es_build_with(_eventsourcing(path, "NORMAL"), events, batch)


def es_build_with(app: Any, events: Iterator[NewEvent], batch: int = 5000) -> int:
    """`es_build` into an eventsourcing application of any persistence module."""
    import msgspec

    listened = _listened_class()
    listener = _listener_class()()
    count = 0
    for new in events:
        fields = msgspec.to_builtins(new.event)
        kind = fields.pop("type")
        listener.trigger_event(listened, kind=kind, at=new.occurred_at, fields=fields)
        count += 1
        if count % batch == 0:
            app.save(listener)
    app.save(listener)
    app.close()
    return count + 1


def es_replay(path: Path, convert: Callable[[str, dict[str, Any]], DomainEvent]) -> float:
    """Events/s of eventsourcing select + deserialise + project (our fold)."""
    return es_replay_with(_eventsourcing(path, "NORMAL"), convert)


def es_replay_with(app: Any, convert: Callable[[str, dict[str, Any]], DomainEvent]) -> float:
    """`es_replay` on an eventsourcing application of any persistence module."""
    from eventsourcing.utils import get_topic

    listener = _listener_class()
    for cls in (listener, listener.Created, listener.PositionReported, _listened_class()):
        get_topic(cls)  # registered, so the stored topics resolve in this process
    state = State()
    seq = 0
    started = time.perf_counter()
    start = 1
    while True:
        page = app.recorder.select_notifications(start, limit=1000)
        if not page:
            break
        for notification in page:
            event = app.mapper.to_domain_event(notification)
            seq += 1
            kind = getattr(event, "kind", None)
            if kind is None:
                continue  # the aggregate's creation
            recorded = Recorded(seq, "", event.at, 0, convert(kind, event.fields))
            state = evolve(state, recorded)
        start = page[-1].id + 1
    elapsed = time.perf_counter() - started
    app.close()
    return seq / elapsed
