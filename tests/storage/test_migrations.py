"""Schema through Alembic only: empty file to head, re-runs are no-ops, refusal with advice."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import anyio
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from domain.events import EVENT_TYPES
from storage.chain import first_break
from storage.errors import ChainBrokenError, SchemaError
from storage.migrate import alembic_config, ensure_schema, head_revision
from storage.projector import load_state, replay, verify
from storage.schema import metadata
from storage.sqlite_log import open_sqlite_log
from storage.sqlite_store import SqliteEventStore
from storage.type_codes import FOREIGN_CODES_FROM, TYPE_CODES
from tests.support.clock import FixedClock
from tests.support.databases import (
    expected_schema,
    logical_rows,
    revision_of,
    schema_less_database,
    schema_of,
)
from tests.support.events import checkpoint, mixed_events, sidecars, sqlite_exec, sqlite_rows


@pytest.mark.anyio
@pytest.mark.parametrize("start", ["missing", "zero-bytes", "no-tables"])
async def test_open_migrates_to_head(tmp_path: Path, start: str) -> None:
    db = tmp_path / "sub" / "tierbuffer.db"
    if start != "missing":
        db.parent.mkdir()
        if start == "zero-bytes":
            db.touch()
        else:
            schema_less_database(db)
    store = await SqliteEventStore.open(db, clock=FixedClock())
    await store.aclose()
    assert schema_of(db) == expected_schema()
    assert {"events", "snapshots"} <= {name for kind, name, _ in schema_of(db) if kind == "table"}
    assert revision_of(db) == [head_revision()]
    # The unique event id is enforced by the database itself, not only by the writer.
    unique = sqlite_rows(db, "SELECT name, \"unique\" FROM pragma_index_list('events')")
    assert any(flag == 1 for _, flag in unique)
    assert sqlite_rows(db, "PRAGMA journal_mode") == [("wal",)]


def test_migrated_schema_matches_the_sqlalchemy_metadata(tmp_path: Path) -> None:
    db = tmp_path / "tierbuffer.db"
    anyio.run(lambda: ensure_schema(db, upgrade=True), backend="asyncio")
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        engine.dispose()
    assert diff == []


@pytest.mark.anyio
async def test_migrating_twice_is_a_noop(tmp_path: Path) -> None:
    db = tmp_path / "tierbuffer.db"
    store = await SqliteEventStore.open(db, clock=FixedClock())
    await store.append(mixed_events(10))
    await store.aclose()
    checkpoint(db)
    before = db.read_bytes()

    assert await ensure_schema(db, upgrade=True) == head_revision()
    assert await ensure_schema(db, upgrade=False) == head_revision()
    store = await SqliteEventStore.open(db, clock=FixedClock())
    await store.aclose()
    checkpoint(db)

    assert db.read_bytes() == before
    assert revision_of(db) == [head_revision()]


@pytest.mark.anyio
async def test_out_of_date_schema_is_refused_with_what_to_run(tmp_path: Path) -> None:
    db = schema_less_database(tmp_path / "old.db")
    before = db.read_bytes()
    with pytest.raises(SchemaError) as raised:
        await SqliteEventStore.open(db, clock=FixedClock(), create=False, migrate=False)
    message = str(raised.value)
    assert "\n" not in message
    assert f"tierbuffer --db {db} migrate" in message
    assert "none" in message
    assert db.read_bytes() == before
    assert not sidecars(db)
    assert schema_of(db) == []


_OPENER = textwrap.dedent(
    """
    import sys
    import anyio
    from tests.support.clock import FixedClock
    from domain.events import NewEvent, Paused
    from storage.errors import StoreError
    from storage.sqlite_store import SqliteEventStore

    async def main(path, event_id):
        print("ready", flush=True)
        sys.stdin.readline()
        try:
            store = await SqliteEventStore.open(path, clock=FixedClock())
            await store.append([NewEvent(event_id, 1, Paused())])
            await store.aclose()
        except StoreError as e:
            print(f"error: {e}", flush=True)
            sys.exit(2)

    anyio.run(main, sys.argv[1], sys.argv[2], backend="asyncio")
    """
)


def test_processes_starting_together_on_a_new_file_all_migrate_it(tmp_path: Path) -> None:
    """First start of several processes at once: one creates the schema, the others wait for it."""
    db = tmp_path / "fresh.db"
    ids = [str(uuid.uuid4()) for _ in range(4)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, str(db), event_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for event_id in ids
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = zip(procs, outputs, strict=True)
    failures = [out + err for proc, (out, err) in results if proc.returncode]
    assert failures == []
    assert revision_of(db) == [head_revision()]
    stored = sqlite_rows(db, "SELECT lower(hex(event_id)) FROM events")
    assert sorted(r[0] for r in stored) == sorted(i.replace("-", "") for i in ids)


# --- the upgrade of a log written at revision 0001 ---------------------------------------------

FIXTURE_0001 = Path(__file__).with_name("fixtures") / "log-0001.db"


def _old_log(tmp_path: Path) -> Path:
    db = tmp_path / "old.db"
    shutil.copyfile(FIXTURE_0001, db)
    assert revision_of(db) == ["0001"]
    return db


@pytest.mark.anyio
async def test_a_0001_log_is_upgraded_in_place_and_its_chain_keeps_verifying(
    tmp_path: Path,
) -> None:
    db = _old_log(tmp_path)
    before = sqlite_rows(db, "SELECT seq, event_id, type, payload, hash, track FROM events")
    async with open_sqlite_log(db, clock=FixedClock(), create=False, migrate=True) as log:
        rows = list(log.events.iter_rows())
        assert first_break(rows) is None
        assert [(r.seq, r.event_id, r.type, r.payload, r.hash, r.track) for r in rows] == before
        assert {r.chain for r in rows} == {1}
        report = await verify(log.events, log.snapshots)
        assert report.ok and report.events == 240
        # The old snapshot is not bound to the chain (and was written by an older projection):
        # skipped, with the reason, and replayed.
        loaded = await load_state(log.events, log.snapshots)
        assert loaded.snapshot_seq is None
        assert [s.seq for s in loaded.skipped] == [200]
        assert any(word in loaded.skipped[0].reason for word in ("not bound", "projection v"))
        assert loaded.state == await replay(log.events)
        # New rows chain on in format 2, after the old ones.
        assert await log.events.append(mixed_events(30, seed=5)) == list(range(241, 271))
        rows = list(log.events.iter_rows())
        assert [r.chain for r in rows[238:242]] == [1, 1, 2, 2]
        assert first_break(rows) is None
        assert (await verify(log.events, log.snapshots)).ok
    assert revision_of(db) == [head_revision()]
    assert schema_of(db) == expected_schema()


@pytest.mark.anyio
async def test_an_old_row_altered_before_the_upgrade_is_still_named_after_it(
    tmp_path: Path,
) -> None:
    """Values the old code never wrote are copied as they are, so verify still finds them."""
    db = _old_log(tmp_path)
    sqlite_exec(db, "UPDATE events SET event_id = 'not-a-uuid' WHERE seq = 50")
    async with open_sqlite_log(db, clock=FixedClock(), create=False, migrate=True) as log:
        report = await verify(log.events, log.snapshots)
    assert report.chain_break is not None and report.chain_break.seq == 50
    assert "event_id" in report.chain_break.reason


@pytest.mark.anyio
async def test_the_track_column_of_an_old_row_is_checked_against_its_event(
    tmp_path: Path,
) -> None:
    """Rows of chain format 1 leave the track out of their hash: verify and every replay
    compare it with the track of the event instead."""
    db = _old_log(tmp_path)
    ((seq,),) = sqlite_rows(db, "SELECT MIN(seq) FROM events WHERE seq > 30 AND track = 't1'")
    sqlite_exec(db, f"UPDATE events SET track = 't2' WHERE seq = {seq}")
    async with open_sqlite_log(db, clock=FixedClock(), create=False, migrate=True) as log:
        report = await verify(log.events, log.snapshots)
        with pytest.raises(ChainBrokenError) as raised:
            await replay(log.events)
    assert report.chain_break is not None and report.chain_break.seq == seq
    assert "track" in report.chain_break.reason
    assert raised.value.seq == seq


# --- the upgrade of a log written at revision 0002 ---------------------------------------------

FIXTURE_0002 = Path(__file__).with_name("fixtures") / "log-0002.db"
_TRACK_QUERY = "SELECT seq FROM events WHERE track = 't1' ORDER BY seq"


@pytest.mark.anyio
async def test_a_0002_log_keeps_its_rows_and_indexes_only_the_rows_that_name_a_track(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.db"
    shutil.copyfile(FIXTURE_0002, db)
    assert revision_of(db) == ["0002"]
    before = logical_rows(db)
    by_track = sqlite_rows(db, _TRACK_QUERY)
    assert sqlite_rows(db, "SELECT COUNT(*) FROM events WHERE track IS NULL") != [(0,)]
    async with open_sqlite_log(db, clock=FixedClock(), create=False, migrate=True) as log:
        assert logical_rows(db) == before
        assert (await verify(log.events, log.snapshots)).ok
        assert [(r.seq,) async for r in log.events.read_rows(track="t1")] == by_track
        assert await log.events.append(mixed_events(30, seed=5)) == list(range(241, 271))
        assert first_break(list(log.events.iter_rows())) is None
    assert revision_of(db) == [head_revision()] and schema_of(db) == expected_schema()
    ((sql,),) = sqlite_rows(db, "SELECT sql FROM sqlite_master WHERE name = 'ix_events_track'")
    assert sql.endswith("WHERE track IS NOT NULL")
    entries = sqlite_rows(
        db, "SELECT COUNT(*) FROM events INDEXED BY ix_events_track WHERE track > ''"
    )
    assert entries == sqlite_rows(db, "SELECT COUNT(*) FROM events WHERE track IS NOT NULL")
    plan = " ".join(str(row) for row in sqlite_rows(db, f"EXPLAIN QUERY PLAN {_TRACK_QUERY}"))
    assert "ix_events_track" in plan


# --- the upgrade of a log written at revision 0003 ---------------------------------------------

FIXTURE_0003 = Path(__file__).with_name("fixtures") / "log-0003.db"


def _log_0003(tmp_path: Path) -> Path:
    db = tmp_path / "old.db"
    shutil.copyfile(FIXTURE_0003, db)
    assert revision_of(db) == ["0003"]
    return db


def _alembic(db: Path, action: str, revision: str) -> None:
    config = alembic_config()
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        engine.dispose()


@pytest.mark.anyio
async def test_a_0003_log_keeps_every_value_and_its_chain_with_types_as_codes(
    tmp_path: Path,
) -> None:
    db = _log_0003(tmp_path)
    before = logical_rows(db)
    seeks = [row[0] for row in before if row[2] == "Seeked"]
    async with open_sqlite_log(db, clock=FixedClock(), create=False, migrate=True) as log:
        assert logical_rows(db) == before
        rows = list(log.events.iter_rows())
        assert [(r.seq, r.type, r.occurred_at, r.recorded_at, r.hash) for r in rows] == [
            (seq, kind, at, recorded, digest.hex())
            for seq, _, kind, _, at, recorded, _, digest, _, _ in before
        ]
        assert first_break(rows) is None
        # The snapshot is bound to a chain hash, which did not change: it is still used.
        loaded = await load_state(log.events, log.snapshots)
        assert loaded.snapshot_seq == 200 and not loaded.skipped
        assert loaded.state == await replay(log.events)
        assert [r.seq async for r in log.events.read_rows(types={"Seeked"})] == seeks
        # New rows chain on.
        assert await log.events.append(mixed_events(30, seed=5)) == list(range(241, 271))
        assert first_break(list(log.events.iter_rows())) is None
        assert (await verify(log.events, log.snapshots)).ok
    assert revision_of(db) == [head_revision()] and schema_of(db) == expected_schema()
    assert dict(sqlite_rows(db, "SELECT name, code FROM event_types")) == TYPE_CODES
    lags = sqlite_rows(db, "SELECT recorded_lag FROM events WHERE seq <= 240 ORDER BY seq")
    assert [lag for (lag,) in lags] == [row[5] - row[4] for row in before]


def test_the_codes_are_the_migrations_and_name_every_event_type(tmp_path: Path) -> None:
    """A new event type needs a code, and a migration putting it in `event_types`."""
    db = tmp_path / "fresh.db"
    anyio.run(lambda: ensure_schema(db, upgrade=True), backend="asyncio")
    assert dict(sqlite_rows(db, "SELECT name, code FROM event_types")) == dict(TYPE_CODES)
    assert set(TYPE_CODES) == set(EVENT_TYPES)
    assert len(set(TYPE_CODES.values())) == len(TYPE_CODES)
    assert max(TYPE_CODES.values()) < FOREIGN_CODES_FROM


@pytest.mark.anyio
async def test_values_the_old_code_never_wrote_are_still_named_after_the_upgrade(
    tmp_path: Path,
) -> None:
    """A type that is no event type keeps its name under a code of its own; a type or a
    recorded-at of another storage class is copied as it is: `verify` names the same rows."""
    for tamper, seq, why in [
        ("type = 'Bogus'", 30, "hash does not match"),
        ("type = X'00'", 31, "column type_code holds BLOB"),
        ("recorded_at = 'later'", 32, "column recorded_lag holds TEXT"),
        ("occurred_at = -9223372036854775808", 33, "hash does not match"),
    ]:
        db = _log_0003(tmp_path)
        sqlite_exec(db, f"UPDATE events SET {tamper} WHERE seq = {seq}")
        async with open_sqlite_log(db, clock=FixedClock(), create=False, migrate=True) as log:
            report = await verify(log.events, log.snapshots)
        assert report.chain_break is not None, tamper
        assert (report.chain_break.seq, why in report.chain_break.reason) == (seq, True), tamper
        if "Bogus" in tamper:
            found = sqlite_rows(db, "SELECT code FROM event_types WHERE name = 'Bogus'")
            assert found == [(FOREIGN_CODES_FROM,)]
        db.unlink()


def test_the_downgrade_to_0003_writes_the_names_and_timestamps_back(tmp_path: Path) -> None:
    db = _log_0003(tmp_path)
    sqlite_exec(db, "UPDATE events SET type = 'Bogus' WHERE seq = 7")
    before = sqlite_rows(db, "SELECT * FROM events ORDER BY seq")
    schema = schema_of(db)
    _alembic(db, "upgrade", "head")
    assert sqlite_rows(db, "SELECT * FROM events ORDER BY seq") != before
    _alembic(db, "downgrade", "0003")
    assert sqlite_rows(db, "SELECT * FROM events ORDER BY seq") == before
    assert schema_of(db) == schema and revision_of(db) == ["0003"]
