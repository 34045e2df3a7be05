"""Schema through Alembic only: empty file to head, re-runs are no-ops, refusal with advice."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from adapters.cli import main
from storage.errors import SchemaError
from storage.migrate import ensure_schema, head_revision
from storage.schema import metadata
from storage.sqlite_store import SqliteEventStore
from tests.support.clock import FixedClock
from tests.support.events import checkpoint, mixed_events, sidecars, sqlite_rows

REPO = Path(__file__).resolve().parents[2]


def schema_of(db: Path) -> list[tuple[str, str, str]]:
    rows = sqlite_rows(
        db,
        "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
        "ORDER BY type, name",
    )
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def revision_of(db: Path) -> list[str]:
    return [str(r[0]) for r in sqlite_rows(db, "SELECT version_num FROM alembic_version")]


def schema_less_database(path: Path) -> Path:
    """A real, non-empty SQLite file with no tables at all: schema at revision 'none'."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 7")
    connection.close()
    assert path.stat().st_size > 0
    return path


def expected_schema() -> list[tuple[str, str, str]]:
    """Tables and named indexes of storage.schema (the migrations' target), plus Alembic's own."""
    entries = [("table", "alembic_version", "alembic_version")]
    for table in metadata.sorted_tables:
        entries.append(("table", table.name, table.name))
        entries.extend(("index", str(index.name), table.name) for index in table.indexes)
    return sorted(entries)


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
    assert main(["--db", str(db), "migrate"]) == 0
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


def test_cli_migrate_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "tierbuffer.db"
    assert main(["--db", str(db), "migrate"]) == 0
    assert main(["--db", str(db), "migrate"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{db}: schema up to date (0 events)"] * 2
    assert schema_of(db) == expected_schema()


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


def test_cli_refuses_out_of_date_schema_then_migrate_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = schema_less_database(tmp_path / "old.db")
    assert main(["--db", str(db), "state"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tierbuffer: error: ") and err.count("\n") == 1
    assert "migrate" in err
    assert schema_of(db) == []

    assert main(["--db", str(db), "migrate"]) == 0
    assert main(["--db", str(db), "state"]) == 0
    assert "state-hash: " in capsys.readouterr().out


def test_alembic_by_hand_upgrades_to_head(tmp_path: Path) -> None:
    db = tmp_path / "by-hand.db"
    alembic = Path(sys.executable).parent / "alembic"
    ini = REPO / "migrations" / "alembic.ini"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(alembic), "-c", str(ini), "-x", f"db={db}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )

    upgraded = run("upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    assert revision_of(db) == [head_revision()]
    assert schema_of(db) == expected_schema()
    current = run("current")
    assert current.returncode == 0, current.stderr
    assert f"{head_revision()} (head)" in current.stdout
    # tierbuffer accepts the result without migrating anything itself.
    assert main(["--db", str(db), "verify"]) == 0


_OPENER = textwrap.dedent(
    """
    import sys
    import anyio
    from adapters.clock import SystemClock
    from domain.events import NewEvent, Paused
    from storage.errors import StoreError
    from storage.sqlite_store import SqliteEventStore

    async def main(path, event_id):
        print("ready", flush=True)
        sys.stdin.readline()
        try:
            store = await SqliteEventStore.open(path, clock=SystemClock())
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
