"""Fixtures every test folder may use: the anyio backend, a fixed clock, event stores."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from storage.location import PgUrl
from storage.memory_store import InMemoryEventStore
from storage.pg_store import PgEventStore
from storage.sqlite_store import SqliteEventStore
from tests.support.clock import FixedClock
from tests.support.events import T0, checkpoint, mixed_events, sidecars
from tests.support.pgserver import REQUIRED_ENV, PgServer, ServerUnavailable

#: Fixtures of bad and tampered database files, shared by the storage and the CLI tests.
pytest_plugins = ["tests.support.databases"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def private_places(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test (and every process it starts) gets its own data, cache and configuration
    folders and none of the user's TIERBUFFER_* settings: tests never touch ~/.local/share,
    never read the user's config file, and run side by side (pytest-xdist) without sharing."""
    home = tmp_path_factory.mktemp("places")
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    for name in [n for n in os.environ if n.startswith("TIERBUFFER_")]:
        monkeypatch.delenv(name)
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0 + 10**7)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "log.db"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server of the machine's packaged binaries, for the whole session. Without
    them the PostgreSQL tests are skipped, unless $TIERBUFFER_REQUIRE_POSTGRES (set by .ci/run)
    says they must run."""
    try:
        server = PgServer()
    except ServerUnavailable as e:
        if os.environ.get(REQUIRED_ENV):
            pytest.fail(f"PostgreSQL is required here (${REQUIRED_ENV}) but: {e}")
        pytest.skip(f"PostgreSQL tests skipped: {e} (install Debian's postgresql to run them)")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> PgUrl:
    """A new, empty database on the test server."""
    return PgUrl(pg_server.create_database(f"t_{uuid.uuid4().hex[:16]}"))


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def where(store_kind: str, request: pytest.FixtureRequest, db_path: Path) -> Path | PgUrl:
    """Where a store of this kind keeps its log (the in-memory fake: nowhere, `db_path`)."""
    if store_kind == "postgresql":
        url: PgUrl = request.getfixturevalue("pg_url")
        return url
    return db_path


@pytest.fixture
async def store(
    store_kind: str, where: Path | PgUrl, clock: FixedClock
) -> AsyncIterator[InMemoryEventStore | SqliteEventStore | PgEventStore]:
    """Each implementation of the EventStore port; SQLite and PostgreSQL migrated by Alembic, on
    a temp file and a new database."""
    opened: InMemoryEventStore | SqliteEventStore | PgEventStore
    if store_kind == "memory":
        opened = InMemoryEventStore(clock=clock)
    elif isinstance(where, PgUrl):
        opened = await PgEventStore.open(where, clock=clock)
    else:
        opened = await SqliteEventStore.open(where, clock=clock)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture(scope="session")
def populated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once: a migrated database holding 300 mixed events, writer closed, WAL folded in."""
    path = tmp_path_factory.mktemp("template") / "populated.db"

    async def fill() -> None:
        store = await SqliteEventStore.open(path, clock=FixedClock(T0 + 10**7))
        try:
            await store.append(mixed_events(300))
        finally:
            await store.aclose()

    anyio.run(fill, backend="asyncio")
    checkpoint(path)
    assert not sidecars(path)
    return path


@pytest.fixture
def populated_db(tmp_path: Path, populated_template: Path) -> Path:
    """A private copy of the populated database (tests may damage it)."""
    path = tmp_path / "populated.db"
    shutil.copyfile(populated_template, path)
    return path


#: The longest tests (processes, builds, type checking) start first, so that on two workers the
#: last minute is not one of them running alone while the other worker has finished. The
#: runtime's timing tests are left where they were, beside lighter ones.
LONG_FIRST = ("tests/e2e/", "tests/test_lint.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid
        return next((n for n, prefix in enumerate(LONG_FIRST) if path.startswith(prefix)), 99)

    items.sort(key=rank)
