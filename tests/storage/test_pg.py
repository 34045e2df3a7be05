"""What only PostgreSQL shows, on a real server: readers never see a gap while several stores
append, the append lock, group commit in fewer transactions than appends, the change feed, and
the migrations of both dialects' one history."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, select

from domain.events import Paused
from storage.chain import first_break
from storage.errors import DatabaseBusyError, SchemaError
from storage.location import PgUrl
from storage.migrate import alembic_config, ensure_schema, head_revision
from storage.pg_log import open_pg_log
from storage.pg_store import PgEventStore
from storage.pg_writer import append_lock
from storage.projector import load_state, replay, verify
from storage.schema import metadata
from storage.type_codes import TYPE_CODES
from tests.support.clock import FixedClock
from tests.support.events import mixed_events, new_event
from tests.support.stores import pg_exec, pg_rows

pytestmark = pytest.mark.anyio


async def test_a_reader_never_sees_a_gap_while_two_stores_append(
    pg_url: PgUrl, clock: FixedClock
) -> None:
    a = await PgEventStore.open(pg_url, clock=clock)
    b = await PgEventStore.open(pg_url, clock=clock, migrate=False)
    seen: list[int] = []
    done = anyio.Event()

    async def append(store: PgEventStore, seed: int) -> None:
        for i in range(60):
            await store.append(mixed_events(1 + i % 4, seed=seed * 1000 + i))

    async def read() -> None:
        while not done.is_set() or len(seen) < await a.last_seq():
            async for row in a.read_rows(after=seen[-1] if seen else 0):
                assert row.seq == (seen[-1] if seen else 0) + 1, "a gap was visible"
                seen.append(row.seq)
            await anyio.lowlevel.checkpoint()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            async with anyio.create_task_group() as writers:
                writers.start_soon(append, a, 1)
                writers.start_soon(append, b, 2)
            done.set()
        rows = [row async for row in a.read_rows()]
        assert first_break(rows) is None
        assert seen == [r.seq for r in rows] == list(range(1, len(rows) + 1))
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_walk_reads_every_row_once_across_pages_and_may_stop_early(
    pg_url: PgUrl, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("storage.pg_reader.WALK_PAGE", 3)
    store = await PgEventStore.open(pg_url, clock=clock)
    try:
        await store.append([new_event(Paused()) for _ in range(10)])
        assert [r.seq for r in store.iter_rows()] == list(range(1, 11))
        assert [r.seq for r in store.iter_recorded(after=2)] == list(range(3, 11))
        assert [r.seq for r in store.iter_rows(after=9)] == [10]
        assert list(store.iter_rows(after=10)) == []
        walk = store.iter_recorded(after=0)
        assert [next(walk).seq for _ in range(4)] == [1, 2, 3, 4]
        walk.close()  # gives the walk's connection back
        assert await store.append([new_event(Paused())]) == [11]
    finally:
        await store.aclose()


async def test_two_stores_on_one_log_take_turns(pg_url: PgUrl, clock: FixedClock) -> None:
    """Each store's head in memory goes stale when the other appends: the optimistic commit is
    refused whole and redone under the lock, so the chain never forks."""
    a = await PgEventStore.open(pg_url, clock=clock)
    b = await PgEventStore.open(pg_url, clock=clock, migrate=False)
    try:
        expected = []
        for i in range(15):
            for store in (a, b):
                batch = mixed_events(3, seed=i * 10 + (store is b))
                seqs = await store.append(batch)
                assert seqs == list(range(len(expected) + 1, len(expected) + 4))
                expected += [e.event_id for e in batch]
        rows = list(a.iter_rows())
        assert [r.event_id for r in rows] == expected
        assert first_break(rows) is None
    finally:
        await a.aclose()
        await b.aclose()


async def test_an_append_waits_for_the_append_lock_then_gives_up_busy(
    pg_url: PgUrl, clock: FixedClock
) -> None:
    store = await PgEventStore.open(pg_url, clock=clock, busy_timeout_s=0.3)
    try:
        await store.append([new_event(Paused())])
        engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(pg_url.url))
        with engine.connect() as holder:
            holder.execute(select(append_lock()))  # held until this transaction ends
            with pytest.raises(DatabaseBusyError):
                await store.append([new_event(Paused())])
            holder.rollback()
        engine.dispose()
        assert await store.last_seq() == 1
        assert await store.append([new_event(Paused())]) == [2]
        assert first_break(store.iter_rows()) is None
    finally:
        await store.aclose()


async def test_appends_that_arrive_together_share_a_commit(
    pg_url: PgUrl, clock: FixedClock
) -> None:
    store = await PgEventStore.open(pg_url, clock=clock)
    try:
        results: list[list[int]] = []

        async def client() -> None:
            results.append(await store.append([new_event(Paused())]))

        async with anyio.create_task_group() as tg:
            for _ in range(64):
                tg.start_soon(client)
        assert sorted(s for seqs in results for s in seqs) == list(range(1, 65))
        assert store._writer.commits < 64 // 4
        assert first_break(store.iter_rows()) is None
    finally:
        await store.aclose()


async def test_the_change_feed_tells_of_appends_by_another_store(
    pg_url: PgUrl, clock: FixedClock
) -> None:
    listener = await PgEventStore.open(pg_url, clock=clock)
    writer = await PgEventStore.open(pg_url, clock=clock, migrate=False)
    heads: list[int] = []
    try:
        with anyio.fail_after(10):
            feed = listener.changes()
            assert await anext(feed) == 0  # listening
            await writer.append(mixed_events(3))
            heads.append(await anext(feed))
            await writer.append(mixed_events(2, seed=3))
            heads.append(await anext(feed))
            await feed.aclose()
        assert heads == [3, 5]
    finally:
        await listener.aclose()
        await writer.aclose()


# --- migrations ---------------------------------------------------------------------------------


def test_migrated_schema_matches_the_sqlalchemy_metadata(pg_url: PgUrl) -> None:
    anyio.run(lambda: ensure_schema(pg_url, upgrade=True), backend="asyncio")
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(pg_url.url))
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        engine.dispose()
    assert diff == []
    (kind,) = pg_rows(
        pg_url,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'events' AND column_name = 'seq'",
    )
    assert kind == ("bigint",)


async def test_migrating_twice_is_a_noop_and_reads_never_migrate(pg_url: PgUrl) -> None:
    with pytest.raises(SchemaError, match="revision none"):
        await PgEventStore.open(pg_url, clock=FixedClock(), migrate=False)
    assert pg_rows(pg_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    assert await ensure_schema(pg_url, upgrade=True) == head_revision()
    assert await ensure_schema(pg_url, upgrade=True) == head_revision()
    assert await ensure_schema(pg_url, upgrade=False) == head_revision()
    assert pg_rows(pg_url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]


async def test_a_database_of_another_application_is_refused_untouched(pg_url: PgUrl) -> None:
    pg_exec(pg_url, "CREATE TABLE customers (id serial PRIMARY KEY, name text)")
    with pytest.raises(SchemaError, match="not tierbuffer"):
        await PgEventStore.open(pg_url, clock=FixedClock())
    tables = pg_rows(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert tables == [("customers",)]


FIXTURE_0001 = Path(__file__).with_name("fixtures") / "log-0001.db"


async def test_a_0001_log_is_upgraded_on_postgresql_and_keeps_verifying(
    pg_url: PgUrl, tmp_path: Path
) -> None:
    """The same history on PostgreSQL: a log written at revision 0001 (the SQLite fixture's
    rows, copied) is rewritten by 0002 and verifies as before; new rows chain on in format 2."""
    config = alembic_config()
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(pg_url.url))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    engine.dispose()
    source = tmp_path / "old.db"
    shutil.copyfile(FIXTURE_0001, source)
    with sqlite3.connect(source) as old:
        rows = old.execute(
            "SELECT seq, event_id, type, version, occurred_at, recorded_at, track, payload, hash "
            "FROM events ORDER BY seq"
        ).fetchall()
    with psycopg.connect(pg_url.url) as connection:
        connection.cursor().executemany(
            "INSERT INTO events (seq, event_id, type, version, occurred_at, recorded_at, track, "
            "payload, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    async with open_pg_log(pg_url, clock=FixedClock(), migrate=True) as log:
        assert (await verify(log.events, log.snapshots)).ok
        assert await log.events.last_seq() == 240
        assert await log.events.append(mixed_events(30, seed=5)) == list(range(241, 271))
        stored = list(log.events.iter_rows())
        assert [r.chain for r in stored[238:242]] == [1, 1, 2, 2]
        assert first_break(stored) is None
        assert (await load_state(log.events, log.snapshots)).state == await replay(log.events)
        by_track = [r.seq async for r in log.events.read_rows(track="t1")]
        assert by_track == [r.seq for r in stored if r.track == "t1"] and by_track
    # 0003: the track index leaves out the rows that name no track.
    ((definition,),) = pg_rows(
        pg_url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_events_track'"
    )
    assert definition.endswith("WHERE (track IS NOT NULL)")


FIXTURE_0003 = Path(__file__).with_name("fixtures") / "log-0003.db"
_COLUMNS_0003 = (
    "seq, event_id, type, version, occurred_at, recorded_at, payload, hash, track, chain"
)
_ROWS_0003 = f"SELECT {_COLUMNS_0003} FROM events ORDER BY seq"


def _alembic(url: PgUrl, action: str, revision: str) -> None:
    config = alembic_config()
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url.url))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        engine.dispose()


def _log_0003_on(url: PgUrl, tmp_path: Path) -> list[tuple[Any, ...]]:
    """The SQLite fixture's log at revision 0003 (rows and snapshot), copied into PostgreSQL
    at that revision; its rows."""
    _alembic(url, "upgrade", "0003")
    source = tmp_path / "old.db"
    shutil.copyfile(FIXTURE_0003, source)
    with sqlite3.connect(source) as old:
        rows = old.execute(_ROWS_0003).fetchall()
        snapshots = old.execute(
            "SELECT id, seq, projection_version, state_hash, state, created_at, chain_hash "
            "FROM snapshots"
        ).fetchall()
    old.close()
    with psycopg.connect(url.url) as connection:
        marks = ", ".join(["%s"] * 10)
        insert = f"INSERT INTO events ({_COLUMNS_0003}) VALUES ({marks})"
        connection.cursor().executemany(insert, rows)
        connection.cursor().executemany(
            "INSERT INTO snapshots (id, seq, projection_version, state_hash, state, created_at, "
            "chain_hash) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            snapshots,
        )
    return rows


async def test_a_0003_log_is_upgraded_on_postgresql_keeping_every_value_and_its_chain(
    pg_url: PgUrl, tmp_path: Path
) -> None:
    """0004 on PostgreSQL: types become codes, recorded-at a lag; every row reads back as it
    was, the chain and the snapshot bound to it still hold, and new rows chain on."""
    rows = _log_0003_on(pg_url, tmp_path)
    async with open_pg_log(pg_url, clock=FixedClock(), migrate=True) as log:
        stored = list(log.events.iter_rows())
        assert [(r.seq, r.type, r.occurred_at, r.recorded_at, r.hash) for r in stored] == [
            (r[0], r[2], r[4], r[5], r[7].hex()) for r in rows
        ]
        assert (await verify(log.events, log.snapshots)).ok
        loaded = await load_state(log.events, log.snapshots)
        assert loaded.snapshot_seq == 200 and not loaded.skipped
        seeks = [r.seq async for r in log.events.read_rows(types={"Seeked"})]
        assert seeks == [r[0] for r in rows if r[2] == "Seeked"] and seeks
        assert await log.events.append(mixed_events(30, seed=5)) == list(range(241, 271))
        assert first_break(list(log.events.iter_rows())) is None
    assert dict(pg_rows(pg_url, "SELECT name, code FROM event_types")) == TYPE_CODES
    lags = pg_rows(pg_url, "SELECT recorded_lag FROM events WHERE seq <= 240 ORDER BY seq")
    assert [lag for (lag,) in lags] == [r[5] - r[4] for r in rows]


async def test_a_foreign_type_keeps_its_name_on_postgresql_and_the_downgrade_restores_0003(
    pg_url: PgUrl, tmp_path: Path
) -> None:
    rows = _log_0003_on(pg_url, tmp_path)
    pg_exec(pg_url, "UPDATE events SET type = 'Bogus' WHERE seq = 100")
    before = pg_rows(pg_url, _ROWS_0003)
    assert before != rows
    _alembic(pg_url, "upgrade", "head")
    assert pg_rows(pg_url, "SELECT code FROM event_types WHERE name = 'Bogus'") == [(1000,)]
    async with open_pg_log(pg_url, clock=FixedClock(), migrate=False) as log:
        report = await verify(log.events, log.snapshots)
        bogus = [r async for r in log.events.read_rows(types={"Bogus"})]
    assert report.chain_break is not None and report.chain_break.seq == 100
    assert [(r.seq, r.type) for r in bogus] == [(100, "Bogus")]
    _alembic(pg_url, "downgrade", "0003")
    assert pg_rows(pg_url, _ROWS_0003) == before


async def test_a_log_in_a_schema_named_by_the_url_stays_there(
    pg_url: PgUrl, clock: FixedClock
) -> None:
    """The URL's own options (a search_path) are kept beside the store's settings: two logs in
    two schemas of one database do not meet."""
    urls = []
    for name in ("room_a", "room_b"):
        pg_exec(pg_url, f"CREATE SCHEMA {name}")
        joiner = "&" if "?" in pg_url.url else "?"
        urls.append(PgUrl(f"{pg_url.url}{joiner}options=-csearch_path%3D{name}"))
    for count, url in zip((3, 5), urls, strict=True):
        async with open_pg_log(url, clock=clock, migrate=True) as log:
            assert await log.events.append(mixed_events(count, seed=count)) == list(
                range(1, count + 1)
            )
    assert pg_rows(pg_url, "SELECT count(*) FROM room_a.events") == [(3,)]
    assert pg_rows(pg_url, "SELECT count(*) FROM room_b.events") == [(5,)]
    assert pg_rows(pg_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
