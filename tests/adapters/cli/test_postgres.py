"""Every log command on PostgreSQL (`--db postgresql://…`), the same state as on SQLite, and bad
input refused in one line, exit 2, with nothing written; the one-service lock as an advisory
lock; the running service woken by the log's notifications."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import psycopg
import pytest
from alembic import command as alembic_command
from sqlalchemy import create_engine

from adapters.runtime.app import Application
from adapters.runtime.lock import AdvisoryServiceLock, ServiceLockedError
from domain.state import State
from storage.location import PgUrl
from storage.migrate import alembic_config, head_revision
from storage.pg_log import open_pg_log
from tests.adapters.cli.test_cli import Cli, assert_one_line_error, cli, state_hash_in
from tests.support.audio import write_audio
from tests.support.clock import FixedClock
from tests.support.events import mixed_events, session_lines, write_session
from tests.support.pgserver import PgServer, free_port
from tests.support.stores import pg_exec, pg_rows

__all__ = ["cli"]  # the fixture, shared with test_cli


def tables(url: PgUrl) -> list[str]:
    rows = pg_rows(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
    return [str(r[0]) for r in rows]


def test_every_log_command_works_on_postgresql_as_on_sqlite(
    cli: Cli, pg_url: PgUrl, tmp_path: Path
) -> None:
    session = write_session(tmp_path / "s.jsonl", session_lines(40))
    sqlite = str(tmp_path / "log.db")
    hashes = {}
    for db in (pg_url.url, sqlite):
        code, out, err = cli("--db", db, "migrate")
        assert code == 0, err
        code, out, err = cli("--db", db, "ingest", str(session))
        assert code == 0 and "appended 40 events" in out, err
        code, out, err = cli("--db", db, "ingest", str(session))  # idempotent
        assert code == 0 and "appended 0 events (40 already in the log)" in out, err
        code, out, err = cli("--db", db, "state")
        assert code == 0, err
        hashes[db] = state_hash_in(out)
        code, out, err = cli("--db", db, "verify")
        assert code == 0 and state_hash_in(out) == hashes[db], out + err
        code, out, err = cli("--db", db, "replay")
        assert code == 0 and state_hash_in(out) == hashes[db], out + err
        code, out, err = cli("--db", db, "log", "--format", "jsonl")
        assert code == 0 and len(out.splitlines()) == 40, err
        export = tmp_path / f"export-{len(hashes)}.jsonl"
        code, out, err = cli("--db", db, "export", str(export))
        assert code == 0 and "exported 40 events" in out, err
        code, out, err = cli("verify", "--file", str(export))
        assert code == 0 and "ok: 40 events" in out, err
        code, out, err = cli("--db", db, "report", "--out", str(tmp_path / "r.html"))
        assert code == 0, err
    assert hashes[pg_url.url] == hashes[sqlite]
    exported = [
        [json.loads(line) for line in (tmp_path / f"export-{n}.jsonl").read_text().splitlines()]
        for n in (1, 2)
    ]
    same = ("seq", "event_id", "type", "version", "occurred_at", "payload", "track")
    assert [[e.get(k) for k in same] for e in exported[0]] == [
        [e.get(k) for k in same] for e in exported[1]
    ]


def test_the_url_comes_from_the_environment_too(
    cli: Cli, pg_url: PgUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERBUFFER_DB", pg_url.url)
    code, out, err = cli("migrate")
    assert code == 0 and "schema up to date (0 events)" in out, err
    assert "events" in tables(pg_url)


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("postgresql://u@127.0.0.1:notaport/db", "not a valid URL"),
        ("postgresql://u@127.0.0.1:99999/db", "not a valid URL"),
        ("postgresql://u@127.0.0.1:5432", "names no database"),
        ("postgres://u:secret@127.0.0.1:0/db", "port 0"),
        ("postgresql://u@h/db?port=1=2", "not a valid URL"),
    ],
)
def test_a_malformed_url_is_one_line_exit_2(cli: Cli, url: str, needle: str) -> None:
    code, _, err = cli("--db", url, "ingest", "nothing.jsonl")
    assert_one_line_error(code, err, needle)
    assert "secret" not in err


def test_an_unreachable_server_is_one_line_exit_2(cli: Cli) -> None:
    url = f"postgresql://tierbuffer@127.0.0.1:{free_port()}/db?connect_timeout=3"
    code, _, err = cli("--db", url, "state")
    assert_one_line_error(code, err, "cannot connect", "refused")


def test_wrong_credentials_are_one_line_exit_2_and_nothing_is_written(
    cli: Cli, pg_server: PgServer, pg_url: PgUrl, tmp_path: Path
) -> None:
    session = write_session(tmp_path / "s.jsonl", session_lines(5))
    wrong = pg_server.tcp_url(pg_url.database, password="not-the-password")
    code, _, err = cli("--db", wrong, "ingest", str(session))
    assert_one_line_error(code, err, "cannot connect", "password authentication failed")
    assert "not-the-password" not in err
    assert tables(pg_url) == []
    right = pg_server.tcp_url(pg_url.database)
    code, out, err = cli("--db", right, "ingest", str(session))
    assert code == 0 and "appended 5 events" in out, err


def test_a_missing_database_is_one_line_exit_2(
    cli: Cli, pg_server: PgServer, tmp_path: Path
) -> None:
    session = write_session(tmp_path / "s.jsonl", session_lines(5))
    code, _, err = cli("--db", pg_server.url("no_such_db"), "ingest", str(session))
    assert_one_line_error(code, err, "cannot connect", '"no_such_db" does not exist')


def test_another_applications_database_is_refused_untouched(
    cli: Cli, pg_url: PgUrl, tmp_path: Path
) -> None:
    pg_exec(pg_url, "CREATE TABLE customers (id serial PRIMARY KEY, name text)")
    session = write_session(tmp_path / "s.jsonl", session_lines(5))
    for command in (["ingest", str(session)], ["migrate"], ["state"]):
        code, _, err = cli("--db", pg_url.url, *command)
        assert_one_line_error(code, err, "not tierbuffer")
    assert tables(pg_url) == ["customers"]


def test_reading_commands_do_not_create_the_schema(cli: Cli, pg_url: PgUrl) -> None:
    for command in (["log"], ["state"], ["verify"], ["replay"]):
        code, _, err = cli("--db", pg_url.url, *command)
        assert_one_line_error(code, err, "migrate")
    assert tables(pg_url) == []


@pytest.mark.anyio
async def test_one_service_per_postgresql_log(pg_url: PgUrl) -> None:
    async with AdvisoryServiceLock(pg_url):
        with pytest.raises(ServiceLockedError, match=r"tierbuffer service \(pid"):
            async with AdvisoryServiceLock(pg_url):
                pass
    async with AdvisoryServiceLock(pg_url):  # released with its holder's session
        pass


@pytest.mark.anyio
async def test_a_follower_is_woken_by_anothers_append_not_by_polling(pg_url: PgUrl) -> None:
    clock = FixedClock()
    async with (
        open_pg_log(pg_url, clock=clock, migrate=True) as log,
        open_pg_log(pg_url, clock=clock, migrate=False) as other,
    ):
        app = Application(log, State(), clock=clock, new_id=lambda: "", snapshot_every=0)
        async with anyio.create_task_group() as tg:
            await tg.start(lambda task_status: app.follow(poll_s=3600, task_status=task_status))
            await other.events.append(mixed_events(7))
            with anyio.fail_after(10):
                await app.until_seq(7)
            tg.cancel_scope.cancel()


def test_migrate_brings_a_postgresql_log_at_0001_to_head(
    cli: Cli, pg_url: PgUrl, tmp_path: Path
) -> None:
    """One history for both dialects: a database Alembic left at 0001 is refused by the other
    commands until `tierbuffer migrate` upgrades it in place."""
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(pg_url.url))
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            alembic_command.upgrade(config, "0001")
    finally:
        engine.dispose()
    assert pg_rows(pg_url, "SELECT version_num FROM alembic_version") == [("0001",)]
    code, _, err = cli("--db", pg_url.url, "state")
    assert_one_line_error(code, err, "migrate")

    code, out, err = cli("--db", pg_url.url, "migrate")
    assert code == 0 and "schema up to date (0 events)" in out, err
    assert pg_rows(pg_url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    session = write_session(tmp_path / "s.jsonl", session_lines(12))
    code, out, err = cli("--db", pg_url.url, "ingest", str(session))
    assert code == 0 and "appended 12 events" in out, err
    code, out, err = cli("--db", pg_url.url, "verify")
    assert code == 0, out + err


def test_alembic_by_hand_upgrades_a_postgresql_database_to_head(cli: Cli, pg_url: PgUrl) -> None:
    alembic = Path(sys.executable).parent / "alembic"
    ini = Path(__file__).resolve().parents[3] / "migrations" / "alembic.ini"
    done = subprocess.run(
        [str(alembic), "-c", str(ini), "-x", f"db={pg_url.url}", "upgrade", "head"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert pg_rows(pg_url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    code, out, err = cli("--db", pg_url.url, "migrate")  # nothing left to do
    assert code == 0 and "schema up to date (0 events)" in out, err


def test_scan_on_postgresql_appends_once_then_sees_the_log(
    cli: Cli, pg_url: PgUrl, tmp_path: Path
) -> None:
    library = tmp_path / "library"
    write_audio(library / "a.wav")
    code, out, err = cli("--db", pg_url.url, "scan", "--library", str(library))
    assert code == 0 and "1 added" in out and "appended 1 events" in out, err
    code, out, err = cli("--db", pg_url.url, "scan", "--library", str(library))
    assert code == 0 and "appended 0 events" in out and "1 unchanged" in out, err


def test_serve_on_a_new_postgresql_log_refuses_a_wrong_library_and_creates_nothing(
    cli: Cli, pg_url: PgUrl, tmp_path: Path
) -> None:
    chunks = tmp_path / "chunks"
    code, _, err = cli(
        "--db", pg_url.url, "serve", "--library", str(tmp_path / "nope"), "--cache-dir", str(chunks)
    )
    assert_one_line_error(code, err, "never held a track")
    assert tables(pg_url) == []
    assert not chunks.exists()


def test_serve_refuses_another_applications_postgresql_database_before_starting(
    cli: Cli, pg_url: PgUrl, tmp_path: Path
) -> None:
    pg_exec(pg_url, "CREATE TABLE customers (id serial PRIMARY KEY, name text)")
    library = tmp_path / "library"
    write_audio(library / "a.wav")
    chunks = tmp_path / "chunks"
    code, _, err = cli(
        "--db", pg_url.url, "serve", "--library", str(library), "--cache-dir", str(chunks)
    )
    assert_one_line_error(code, err, "not tierbuffer")
    assert tables(pg_url) == ["customers"]
    assert not chunks.exists()
