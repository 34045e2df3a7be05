"""The composition root: the one place that chooses implementations and wires them together.

Imported only by the entrypoints (the CLI, the benchmarks, the end-to-end tests): it picks the
stores by where the log lives (an SQLite file, or a PostgreSQL database named by its URL) and
the one-service lock that goes with them, the system clock, the UUIDv7 id source and the worker
functions, and hands them to the runtime, which knows only the ports. The HTTP API is started
here, as a task in the service's task group, so the runtime never imports it. Nothing is built
at import time.

Before a service creates anything (its database, lock file, chunk folder), `preflight` checks
what would make it refuse: a library folder that does not exist and never held a track, a
database it could not use, a port it cannot listen on. A refused start leaves nothing behind.
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
from storage.location import Location, PgUrl
from storage.log import Log
from storage.sqlite_log import open_sqlite_log

if TYPE_CHECKING:
    import socket

    from adapters.http.config import HttpConfig
    from adapters.notify import Notifier
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
    where: Location,
    *,
    create: bool,
    migrate: bool,
    read_only: bool = False,
    clock: Clock | None = None,
    busy_timeout_s: float = 5.0,
) -> AsyncIterator[Log]:
    """The log at `where` (event store and snapshots): an SQLite file, or a PostgreSQL
    database. `create=False` refuses a missing SQLite file (a PostgreSQL database is never
    created: it must exist), `migrate=False` a schema not at the head revision;
    `read_only=True` (commands that only read) writes nothing and, on SQLite, leaves no file
    beside the database; on SQLite a lock another process holds is waited on `busy_timeout_s`
    at most."""
    clock = clock or sources().clock
    if isinstance(where, PgUrl):
        from storage.pg_log import open_pg_log

        async with open_pg_log(where, clock=clock, migrate=migrate and not read_only) as log:
            yield log
        return
    opened = open_sqlite_log(
        where,
        clock=clock,
        create=create,
        migrate=migrate,
        read_only=read_only,
        busy_timeout_s=busy_timeout_s,
    )
    async with opened as log:
        yield log


async def preflight(config: ServiceConfig, http: HttpConfig | None) -> socket.socket | None:
    """Refuse what would make the service fail, before anything is created: see `checks`.
    Returns the HTTP socket, already listening, when `http` is given."""
    from adapters.preflight import check_cache_dir, check_library, check_log

    await check_log(config.db)
    await check_library(config.library, config.db)
    check_cache_dir(config.cache_dir)
    if http is None:
        return None
    from adapters.http.server import HttpServer

    return HttpServer.listen(http)


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
    notifier: Notifier | None = None,
) -> AsyncIterator[Service]:
    """The running service on its log, under the one-service lock, with the HTTP API when
    `http` is given. The API answers first; then the worker processes and the library's first
    scan start (in the background: the body runs while it scans). `render` and `analyse` name
    other worker functions (``"module:function"``, tests of faults). `notifier` is told when
    the service is ready and stopping, and pings its watchdog."""
    from adapters.runtime import specs
    from adapters.runtime.service import running_service

    sock = await preflight(config, http)
    wired = sources()
    try:
        async with service_lock(config.db):
            async with (
                open_log(
                    config.db,
                    create=True,
                    migrate=True,
                    clock=wired.clock,
                    busy_timeout_s=config.busy_timeout_s,
                ) as log,
                running_service(
                    config,
                    log=log,
                    clock=wired.clock,
                    new_id=wired.new_id,
                    render=render or specs.RENDER,
                    analyse=analyse or specs.ANALYSE,
                ) as running,
            ):
                if http is not None and sock is not None:
                    from adapters.http.server import HttpServer

                    server = HttpServer(http, running.player, sock=sock)
                    server.private = {"library": config.library, "chunks": config.cache_dir}
                    if isinstance(config.db, Path):
                        server.private["data"] = config.db.parent
                    running.http_port = await running.task_group.start(server.run)
                await running.start_work()  # once the API answers
                await _ready(running, notifier)
                try:
                    yield running
                finally:
                    if notifier is not None:
                        notifier.stopping()
    finally:
        if sock is not None:
            sock.close()


async def _ready(running: Service, notifier: Notifier | None) -> None:
    """Say the service serves (it does before the library's first scan ends: that runs in the
    background), and again with the track count once the scan is in."""
    config = running.config
    where = f", HTTP API on port {running.http_port}" if running.http_port is not None else ""
    known = len(running.app.state.tracks)
    logger.info(
        "service ready: log %s at sequence %d, library %s (%d tracks known, scanning), chunks %s%s",
        config.db,
        running.app.state.seq,
        config.library,
        known,
        config.cache_dir,
        where,
    )
    if notifier is not None:
        notifier.ready(f"serving {config.library} ({known} tracks known, scanning){where}")
        await running.task_group.start(notifier.keep_alive, running.app.settled)
    running.task_group.start_soon(_scanned, running, notifier, where)


async def _scanned(running: Service, notifier: Notifier | None, where: str) -> None:
    tracks = len((await running.scanned()).tracks)
    logger.info("library %s: %d tracks after the first scan", running.config.library, tracks)
    if notifier is not None:
        notifier.status(f"serving {running.config.library} ({tracks} tracks){where}")


async def serve_until_signalled(
    config: ServiceConfig, *, http: HttpConfig | None = None, notifier: Notifier | None = None
) -> None:
    """`tierbuffer serve`: run until SIGTERM or SIGINT."""
    async with service(config, http=http, notifier=notifier):
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                logger.info("received %s, stopping", signal.Signals(signum).name)
                break
