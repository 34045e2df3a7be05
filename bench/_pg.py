"""The anchors of the PostgreSQL log's benchmarks, doing the same work in the same run:

- raw psycopg: the same rows (ids, hashes, payloads precomputed) into the same table, one INSERT
  per transaction (autocommit), or 1 000 rows per transaction (`executemany`, which psycopg
  pipelines); and a scan of the payloads with json.loads;
- the `eventsourcing` library's PostgreSQL recorder (`pip install ".[bench]"`): one aggregate
  event per `app.save`, its recorder inserting mapped events in batches, and a replay that
  selects notifications, deserialises them and projects them with our fold.

Every scenario runs in a schema of its own (`fresh_schema`), so the databases' sizes do not carry
from one to the next; every anchor checks its row count before its figure is used.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg

from bench import _anchors
from domain.events import DomainEvent, NewEvent
from storage.location import PgUrl
from storage.row import STORED_COLUMNS

INSERT = (
    f"INSERT INTO events ({', '.join(STORED_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(STORED_COLUMNS))})"
)


def fresh_schema(base: PgUrl, name: str) -> PgUrl:
    """A new empty schema `name` in the database; the URL whose connections work in it."""
    with psycopg.connect(base.url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        connection.execute(f'CREATE SCHEMA "{name}"')
    joiner = "&" if "?" in base.url else "?"
    return PgUrl(f"{base.url}{joiner}options=-csearch_path%3D{name}")


def raw_append(url: PgUrl, values: list[tuple[Any, ...]], batch: int) -> tuple[float, list[float]]:
    """Rows/s and per-commit latencies of psycopg committing `batch` rows at a time (1: one
    INSERT in autocommit, its own transaction; more: executemany in one transaction)."""
    latencies = []
    with psycopg.connect(url.url, autocommit=True) as connection:
        cursor = connection.cursor()
        started = time.perf_counter()
        for start in range(0, len(values), batch):
            t0 = time.perf_counter()
            if batch == 1:
                cursor.execute(INSERT, values[start], prepare=True)
            else:
                with connection.transaction():
                    cursor.executemany(INSERT, values[start : start + batch])
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        count = connection.execute("SELECT count(*) FROM events").fetchone()
    if count is None or count[0] != len(values):
        raise SystemExit(f"FAILED: raw psycopg wrote {count} of {len(values)} rows")
    return len(values) / elapsed, latencies


def raw_scan(url: PgUrl) -> float:
    """Rows/s of a psycopg scan of the log's payloads (binary, in pages of 5 000 by seq, as
    the store reads), each decoded with json.loads."""
    count, after = 0, 0
    with psycopg.connect(url.url, autocommit=True) as connection:
        cursor = connection.cursor(binary=True)
        started = time.perf_counter()
        while True:
            cursor.execute(
                "SELECT seq, payload FROM events WHERE seq > %s ORDER BY seq LIMIT 5000", (after,)
            )
            page = cursor.fetchall()
            for _, payload in page:
                json.loads(payload)
            count += len(page)
            if len(page) < 5000:
                break
            after = page[-1][0]
        elapsed = time.perf_counter() - started
    return count / elapsed


# --- eventsourcing ------------------------------------------------------------------------------


def _es_env(url: PgUrl) -> dict[str, str]:
    parts = urlsplit(url.url)
    query = parse_qs(parts.query)
    options = query.get("options", [""])[0]
    schema = options.split("search_path=", 1)[1] if "search_path=" in options else ""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")),
        "POSTGRES_HOST": query.get("host", [parts.hostname or "127.0.0.1"])[0],
        "POSTGRES_PORT": query.get("port", [str(parts.port or 5432)])[0],
        "POSTGRES_USER": parts.username or "",
        "POSTGRES_PASSWORD": parts.password or "",
        "POSTGRES_SCHEMA": schema,
    }


def _application(url: PgUrl) -> Any:
    try:
        from eventsourcing.application import Application
    except ImportError as e:  # pragma: no cover - the bench extra is missing
        raise SystemExit('the anchors need the bench extra: pip install -e ".[bench]"') from e
    return Application(env=_es_env(url))


def es_single(url: PgUrl, n: int) -> float:
    """eventsourcing on PostgreSQL: one aggregate event saved per `app.save`."""
    app = _application(url)
    listener = _anchors._listener_class()()
    app.save(listener)
    started = time.perf_counter()
    for i in range(n):
        listener.report(i)
        app.save(listener)
    elapsed = time.perf_counter() - started
    stored = len(list(app.recorder.select_events(listener.id)))
    app.close()
    if stored != n + 1:
        raise SystemExit(f"FAILED: eventsourcing stored {stored} of {n + 1} events")
    return n / elapsed


def es_batched(url: PgUrl, n: int, batch: int) -> float:
    """eventsourcing on PostgreSQL: mapped events inserted by its recorder in batches."""
    return _anchors.es_batched_on(_application(url), n, batch)


def es_build(url: PgUrl, events: Iterator[NewEvent]) -> int:
    """The listening log as eventsourcing aggregate events, in this schema. Saved 1 000 events
    at a time: its recorder inserts a save in psycopg's pipeline mode, which deadlocks on a
    statement this large (5 000 events in one save hangs, both sides waiting: psycopg#685)."""
    os.environ.update(_es_env(url))
    return _anchors.es_build_with(_application(url), events, batch=1000)


def es_replay(url: PgUrl, convert: Callable[[str, dict[str, Any]], DomainEvent]) -> float:
    return _anchors.es_replay_with(_application(url), convert)


def es_table(url: PgUrl) -> str:
    """The table eventsourcing's application keeps its events in (named after the application)."""
    app = _application(url)
    name = str(app.recorder.events_table_name)
    app.close()
    return name
