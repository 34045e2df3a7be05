"""Fixtures every test folder may use: the anyio backend, a fixed clock, event stores."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from storage.memory_store import InMemoryEventStore
from storage.sqlite_store import SqliteEventStore
from tests.support.clock import FixedClock
from tests.support.events import T0, checkpoint, mixed_events, sidecars

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


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(
    store_kind: str, db_path: Path, clock: FixedClock
) -> AsyncIterator[InMemoryEventStore | SqliteEventStore]:
    """Each implementation of the EventStore port; SQLite migrated by Alembic on a temp file."""
    opened: InMemoryEventStore | SqliteEventStore
    if store_kind == "memory":
        opened = InMemoryEventStore(clock=clock)
    else:
        opened = await SqliteEventStore.open(db_path, clock=clock)
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
