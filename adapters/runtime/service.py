"""`tierbuffer serve`: one anyio event loop, one root task group, everything inside it.

Start (on a log the composition root opened, under its service lock): load the newest valid
snapshot and replay the tail, reconcile the chunk store with the log, record `ServiceStarted`,
then run the folding task, the scheduler and the memory monitor. The composition root adds the
HTTP API to the service's task group and then calls `Service.start_work`: the worker processes
and the library watcher (with its first scan) start once the API answers, so on a small machine
they do not compete with it for the CPU while it starts. Stop (SIGTERM, SIGINT, or the
caller cancelling): in-flight renders are cancelled and recorded, `ServiceStopped` is appended
and a snapshot written.

Faults of a resource degrade the service, never end it: while the log cannot be written (busy,
disk full, read-only) it serves what is ready, refuses writes and starts no render
(`adapters.runtime.writes`), and resumes by itself; a chunk store that cannot take files fails
the chunks it was given as transient (`domain.plan.TRANSIENT`). The one exception: when the
database or its WAL is deleted or replaced under it, nothing it writes could be read again, so
it stops writing, keeps serving reads for `replaced_grace_s` (players are not cut off mid-song,
and `/v1/status` says why), then stops with `DatabaseReplacedError` (the CLI exits 2 naming the
file): a supervisor restarts it on whatever database is then at the path.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import msgspec
from anyio.abc import TaskGroup

from adapters import __version__
from adapters.library.index import Unreadable, known_unreadable
from adapters.library.watch import LibraryWatcher
from adapters.runtime.app import Application
from adapters.runtime.memory import LEVELS, MemoryMonitor
from adapters.runtime.player import Player
from adapters.runtime.pool import WorkerPool
from adapters.runtime.recovery import Janitor, Reconciled, reconcile
from adapters.runtime.scheduler import Scheduler, SchedulerConfig
from adapters.runtime.status import RuntimeStatus, StoreHealth
from domain.events import NewEvent, PressureLevel, ServiceStarted, ServiceStopped
from domain.state import State
from storage.chunks import FileChunkStore
from storage.errors import DatabaseReplacedError, StoreError
from storage.location import Location
from storage.log import Log
from storage.projector import load_state

logger = logging.getLogger(__name__)


class ServiceConfig(msgspec.Struct, frozen=True):
    db: Location
    library: Path
    cache_dir: Path
    scheduler: SchedulerConfig = msgspec.field(default_factory=SchedulerConfig)
    snapshot_every: int = 10_000
    memory_interval_s: float = 1.0
    monitor_memory: bool = True
    watch_library: bool = True
    #: How long the log may be locked by another process before an append is refused.
    busy_timeout_s: float = 5.0
    #: How long reads are still served once the database was deleted or replaced under it.
    replaced_grace_s: float = 30.0


class Service(msgspec.Struct):
    """What a running service exposes to its interfaces (CLI demo, HTTP, tests)."""

    config: ServiceConfig
    app: Application
    player: Player
    scheduler: Scheduler
    chunks: FileChunkStore
    janitor: Janitor
    reconciled: Reconciled
    task_group: TaskGroup
    pool: WorkerPool
    watcher: LibraryWatcher | None = None
    http_port: int | None = None  # set by the composition root when it serves HTTP

    async def start_work(self) -> None:
        """Start the worker processes and the library watcher (its first scan runs in the
        background). Jobs decided before wait for the first worker that comes up."""
        await self.task_group.start(self.pool.run)
        if self.watcher is not None:
            await self.task_group.start(self.watcher.run)

    async def scanned(self) -> State:
        """The state once the first scan of the library is in it (the service serves before:
        the scan runs in the background)."""
        if self.watcher is not None:
            await self.watcher.scanned.wait()
        return await self.app.settled()


@asynccontextmanager
async def running_service(
    config: ServiceConfig,
    *,
    log: Log,
    clock: Callable[[], int],
    new_id: Callable[[], str],
    render: str,
    analyse: str,
) -> AsyncIterator[Service]:
    """Run the service on an opened `log` for the body of the `async with`; stops cleanly when
    the body ends. The composition root (`adapters/bootstrap.py`) chooses every collaborator.

    `render` and `analyse` name the functions the worker processes run (``"module:function"``,
    imported there); tests name functions that hang or crash.
    """
    logger.info("service starting: log %s, library %s", config.db, config.library)
    loaded = await load_state(log.events, log.snapshots)
    for skipped in loaded.skipped:
        logger.warning("snapshot %d at %d skipped: %s", skipped.id, skipped.seq, skipped.reason)
    app = Application(
        log, loaded.state, clock=clock, new_id=new_id, snapshot_every=config.snapshot_every
    )
    chunks = FileChunkStore(config.cache_dir)
    await app.record(ServiceStarted(version=__version__))
    await app.catch_up()
    reconciled = await reconcile(app, chunks)
    janitor = Janitor(app, chunks)
    app.listeners.append(janitor)
    pool = WorkerPool(config.scheduler.workers, preload=sorted({render, analyse}))
    scheduler = Scheduler(
        app,
        pool,
        library_root=config.library,
        cache_root=config.cache_dir,
        config=config.scheduler,
        render=render,
        analyse=analyse,
    )
    reason = "stopped"
    ended: list[DatabaseReplacedError] = []
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(app.writes.run)
            tg.start_soon(_end_when_replaced, app, config.replaced_grace_s, tg.cancel_scope, ended)
            await tg.start(app.follow)
            await tg.start(scheduler.run)
            watcher = _watcher(app, config.library) if config.watch_library else None
            if config.monitor_memory:
                monitor = MemoryMonitor(
                    app.record,
                    current=_level(app.state.cache.pressure),
                    interval_s=config.memory_interval_s,
                )
                await tg.start(monitor.run)

            def status() -> RuntimeStatus:
                return RuntimeStatus(
                    workers=config.scheduler.workers,
                    alive=pool.pids,
                    running=scheduler.running,
                    outcomes=msgspec.structs.replace(scheduler.outcomes),
                    watcher=watcher.status.mode if watcher is not None else "off",
                    watcher_detail=watcher.status.detail if watcher is not None else "",
                    chunk_store=scheduler.store_fault or StoreHealth(),
                    log=app.writes.status(),
                )

            player = Player(app, chunks, status)
            service = Service(
                config, app, player, scheduler, chunks, janitor, reconciled, tg, pool, watcher
            )
            yield service
            tg.cancel_scope.cancel()
    except BaseException as e:
        reason = f"{type(e).__name__}"
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await _stop(app, reason)
    if ended:
        raise ended[0]


async def _end_when_replaced(
    app: Application, grace_s: float, scope: anyio.CancelScope, ended: list[DatabaseReplacedError]
) -> None:
    """Once the database is gone from under the service: serve reads `grace_s` more, then end
    the service with the error."""
    await app.writes.stopped.wait()
    error = app.writes.stop_error
    assert error is not None
    logger.error(
        "%s; serving what is ready for %g s more, then stopping (restart the service on the "
        "right database)",
        error,
        grace_s,
    )
    await anyio.sleep(grace_s)
    ended.append(error)
    scope.cancel()


def _watcher(app: Application, library: Path) -> LibraryWatcher:
    """Rescans the library in the background from the start (changes made while the service
    was down; the files the log records unreadable are read from it first), then watches."""

    async def deliver(events: Sequence[NewEvent]) -> None:
        await app.keep(events)  # kept while the log cannot be written: the index moved on

    async def unreadable() -> dict[str, Unreadable]:
        recorded = [r.event async for r in app.log.events.read(types={"TrackUnreadable"})]
        return known_unreadable(recorded)

    return LibraryWatcher(
        library,
        app.state,
        deliver,
        now_ms=app.clock,
        new_id=app.new_id,
        load_unreadable=unreadable,
    )


def _level(value: str) -> PressureLevel:
    for level in LEVELS:
        if level == value:
            return level
    return "normal"


async def _stop(app: Application, reason: str) -> None:
    """Record the stop and write a snapshot, as far as the log allows within 10 s."""
    with anyio.move_on_after(10):
        await app.record(ServiceStopped(reason=reason))
        await app.writes.drain()
        try:
            state = await app.catch_up()
            if app.writes.writable:
                await app.log.snapshots.save(state, created_at=app.clock())
        except StoreError as e:
            logger.warning("service stopped (%s) without a snapshot: %s", reason, e)
            return
        logger.info("service stopped (%s) at sequence %d", reason, state.seq)
