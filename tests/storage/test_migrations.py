"""Schema through Alembic only: empty file to head, re-runs are no-ops, refusal with advice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import anyio
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from storage.errors import SchemaError
from storage.migrate import ensure_schema, head_revision
from storage.schema import metadata
from storage.sqlite_store import SqliteEventStore
from tests.support.clock import FixedClock
from tests.support.databases import (
    expected_schema,
    revision_of,
    schema_less_database,
    schema_of,
)
from tests.support.events import checkpoint, mixed_events, sidecars, sqlite_rows


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
    assert sorted(r[0] for r in sqlite_rows(db, "SELECT event_id FROM events")) == sorted(ids)
