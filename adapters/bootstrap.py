"""The composition root: the one place that chooses implementations and wires them together.

Imported only by the entrypoints (the CLI, the benchmarks, the end-to-end tests): it picks the
stores by where the log lives (an SQLite file, or a PostgreSQL database named by its URL) and
the one-service lock that goes with them, the system clock, the UUIDv7 id source and the worker
functions, and hands them to the runtime, which knows only the ports. The HTTP API is started
here, as a task in the service's task group, so the runtime never imports it. Nothing is built
at import time.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import anyio

from adapters.clock import SystemClock
from adapters.ids import UuidV7Source
from storage.location import Location, PgUrl, location
from storage.log import Log
from storage.sqlite_log import open_sqlite_log

if TYPE_CHECKING:
    from adapters.http.config import HttpConfig
    from adapters.runtime.service import Service, ServiceConfig

logger = logging.getLogger(__name__)

DEFAULT_SNAPSHOT_EVERY: Final = 10_000

Clock = Callable[[], int]


def default_db_path(environ: Mapping[str, str] = os.environ) -> Path:
    """`TIERBUFFER_DB`, else tierbuffer.db in the user's data directory (XDG on Linux)."""
    explicit = environ.get("TIERBUFFER_DB")
    if explicit:
        return Path(explicit).expanduser()
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "tierbuffer" / "tierbuffer.db"


def db_location(given: str | None, environ: Mapping[str, str] = os.environ) -> Location:
    """`--db` or else `TIERBUFFER_DB` (a path or a PostgreSQL URL), else the default file;
    InvalidLocationError for a malformed URL."""
    explicit = given or environ.get("TIERBUFFER_DB")
    return location(explicit) if explicit else default_db_path(environ)


@dataclass(frozen=True, slots=True)
class Sources:
    """Where time and event ids come from."""

    clock: Clock
    new_id: Callable[[], str]


def sources() -> Sources:
    """The system clock and a UUIDv7 source: the only place either is built."""
    return Sources(SystemClock(), UuidV7Source())


@asynccontextmanager
async def open_log(
    where: Location, *, create: bool, migrate: bool, clock: Clock | None = None
) -> AsyncIterator[Log]:
    """The log at `where` (event store and snapshots): an SQLite file, or a PostgreSQL
    database. `create=False` refuses a missing SQLite file (a PostgreSQL database is never
    created: it must exist), `migrate=False` a schema not at the head revision."""
    clock = clock or sources().clock
    if isinstance(where, PgUrl):
        from storage.pg_log import open_pg_log

        async with open_pg_log(where, clock=clock, migrate=migrate) as log:
            yield log
        return
    async with open_sqlite_log(where, clock=clock, create=create, migrate=migrate) as log:
        yield log


@asynccontextmanager
async def service_lock(where: Location) -> AsyncIterator[None]:
    """One service per log: a flock on an SQLite file, a session advisory lock on PostgreSQL."""
    from adapters.runtime.lock import AdvisoryServiceLock, ServiceLock

    if isinstance(where, PgUrl):
        async with AdvisoryServiceLock(where):
            yield
        return
    with ServiceLock(where):
        yield


@asynccontextmanager
async def service(
    config: ServiceConfig,
    *,
    http: HttpConfig | None = None,
    render: str | None = None,
    analyse: str | None = None,
) -> AsyncIterator[Service]:
    """The running service on its SQLite log, under the one-service lock, with the HTTP API when
    `http` is given. `render` and `analyse` name other worker functions (``"module:function"``,
    tests of faults)."""
    from adapters.runtime import specs
    from adapters.runtime.service import running_service

    wired = sources()
    async with service_lock(config.db):
        async with (
            open_log(config.db, create=True, migrate=True, clock=wired.clock) as log,
            running_service(
                config,
                log=log,
                clock=wired.clock,
                new_id=wired.new_id,
                render=render or specs.RENDER,
                analyse=analyse or specs.ANALYSE,
            ) as running,
        ):
            if http is not None:
                from adapters.http.server import HttpServer

                server = HttpServer(http, running.player)
                running.http_port = await running.task_group.start(server.run)
            yield running


async def serve_until_signalled(config: ServiceConfig, *, http: HttpConfig | None = None) -> None:
    """`tierbuffer serve`: run until SIGTERM or SIGINT."""
    async with service(config, http=http):
        logger.warning(
            "serving: log %s, library %s, chunks %s", config.db, config.library, config.cache_dir
        )
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                logger.warning("received %s, stopping", signal.Signals(signum).name)
                break
