"""Watch the library with watchdog and turn what changes into batches of track events.

The observer thread only notes *which* paths changed (files, or whole folders for folder
events) in a locked set and wakes the event loop; the loop waits until the burst goes quiet
(`debounce_s`, at most `max_delay_s` after it began) and then rescans just those paths with
`scan`. So an editor's temp-file-and-rename is one modification, both ends of a move land in
the same batch (identity kept), and a 10 000-file copy is a handful of batches, not 10 000.

The root folder going away (or becoming unreadable) stops the observer; nothing is emitted for
it (an unmounted disk must not delete a library), and it is logged as an ERROR saying so. The
watcher polls until the folder is back, then starts a new observer and rescans everything. If
the OS refuses more inotify watches, it says so once (`status`, and a warning in the log) and
falls back to a full scan every `poll_every_s`.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Literal

import anyio
import anyio.from_thread
import msgspec
from anyio.abc import TaskStatus
from anyio.lowlevel import EventLoopToken, checkpoint, current_token
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from adapters.library.index import LibraryIndex, Unreadable
from adapters.library.paths import hidden_part, relative, root_problem, wanted
from adapters.library.scan import FULL, LibraryMissingError, Progress, Scope, scan
from domain.events import NewEvent
from domain.state import State

logger = logging.getLogger(__name__)

Deliver = Callable[[Sequence[NewEvent]], Awaitable[None]]
Mode = Literal["starting", "scanning", "watching", "polling", "waiting"]
LoadUnreadable = Callable[[], Awaitable[dict[str, Unreadable]]]
#: How often a long scan says how far it got, in the log.
PROGRESS_EVERY_S = 5.0
LIMIT_ERRNOS = frozenset({errno.ENOSPC, errno.EMFILE})


class WatchStatus(msgspec.Struct, frozen=True):
    mode: Mode = "starting"
    detail: str = ""


class _Pending:
    """Paths noted by the observer thread, taken by the event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.files: set[str] = set()
        self.dirs: set[str] = set()
        self.root_gone = False
        self.generation = 0
        self._waiter: anyio.Event | None = None
        self.token: EventLoopToken | None = None

    def note(self, files: Sequence[str] = (), dirs: Sequence[str] = (), gone: bool = False) -> None:
        with self._lock:
            self.files.update(files)
            self.dirs.update(dirs)
            self.root_gone |= gone
            self.generation += 1
            waiter, self._waiter = self._waiter, None
        if waiter is not None and self.token is not None:
            try:
                anyio.from_thread.run_sync(waiter.set, token=self.token)
            except anyio.RunFinishedError:
                pass  # the event loop has ended: nobody is waiting any more

    async def wait_beyond(self, generation: int) -> None:
        with self._lock:
            if self.generation != generation:
                return
            self._waiter = waiter = anyio.Event()
        await waiter.wait()

    def take(self) -> tuple[Scope, bool]:
        with self._lock:
            scope = Scope(dirs=frozenset(self.dirs), files=frozenset(self.files))
            gone = self.root_gone
            self.files, self.dirs, self.root_gone = set(), set(), False
        return scope, gone

    def empty(self) -> bool:
        with self._lock:
            return not (self.files or self.dirs or self.root_gone)


class _Handler(FileSystemEventHandler):
    """Runs in the observer thread: classify, note, never raise."""

    def __init__(self, root: Path, pending: _Pending) -> None:
        self.root = root
        self.pending = pending

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write") or (event.is_directory and kind == "modified"):
            return
        paths = [os.fsdecode(event.src_path)]
        if kind == "moved":
            paths.append(os.fsdecode(event.dest_path))
        rels = [r for r in (relative(self.root, p) for p in paths) if r is not None]
        if event.is_directory:
            gone = kind == "deleted" and "" in rels
            self.pending.note(dirs=[r for r in rels if r and not hidden_part(r)], gone=gone)
        else:
            keep = [r for r in rels if r and wanted(r.rsplit("/", 1)[-1]) and not hidden_part(r)]
            if keep:
                self.pending.note(files=keep)


class LibraryWatcher:
    """Keeps the log true to a library folder while it runs: `await tg.start(watcher.run)`.

    `run` is ready at once; it then rescans the whole library (changes made while the service
    was down) in the background, delivering events as they are decided (the status says how far
    it got; `scanned` is set when it is done), and after that delivers each coalesced batch of
    changes to `deliver`, in order. The index is updated with every batch; `deliver` should
    append the batch to the log (one commit)."""

    def __init__(
        self,
        root: Path,
        state: State | LibraryIndex,
        deliver: Deliver,
        *,
        now_ms: Callable[[], int],
        new_id: Callable[[], str],
        unreadable: dict[str, Unreadable] | None = None,
        load_unreadable: LoadUnreadable | None = None,
        debounce_s: float = 0.3,
        max_delay_s: float = 2.0,
        rescan_every_s: float | None = 600.0,
        poll_every_s: float = 10.0,
        root_poll_s: float = 1.0,
        limiter: anyio.CapacityLimiter | None = None,
        observer_factory: Callable[[], BaseObserver] = Observer,
    ) -> None:
        self.root = Path(os.path.abspath(root))
        if isinstance(state, LibraryIndex):
            self.index = state
        else:
            self.index = LibraryIndex.from_state(state, unreadable)
        self._deliver = deliver
        self._now_ms, self._new_id = now_ms, new_id
        self.debounce_s, self.max_delay_s = debounce_s, max_delay_s
        self.rescan_every_s, self.poll_every_s = rescan_every_s, poll_every_s
        self.root_poll_s = root_poll_s
        self._limiter = limiter or anyio.CapacityLimiter(4)
        self._observer_factory = observer_factory
        self._pending = _Pending()
        self._load_unreadable = load_unreadable
        self.status = WatchStatus()
        self.batches = 0
        self.scanned = anyio.Event()  # the first full scan has ended
        self._told_at = 0.0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._pending.token = current_token()
        task_status.started()
        if self._load_unreadable is not None:
            for path, entry in (await self._load_unreadable()).items():
                if path not in self.index.tracks:
                    self.index.unreadable[path] = entry
        while True:
            problem = await anyio.to_thread.run_sync(root_problem, self.root, self._known())
            if problem is not None:
                self._set_status("waiting", f"library folder {self.root} {problem}")
                logger.error(
                    "library folder %s %s: its %d tracks stay in the log and nothing is "
                    "scanned or deleted until it is back (checked every %g s)",
                    self.root,
                    problem,
                    len(self.index.tracks),
                    self.root_poll_s,
                )
                self.scanned.set()
                await self._wait_for_root()
            observer = await self._start_observer()
            watching = self.status  # watching, or polling (and why)
            try:
                self._set_status("scanning", "listing the library")
                await self._flush(FULL, progress=self._progress)
                self.scanned.set()
                self.status = watching
                await self._follow(observer is not None)
            finally:
                if observer is not None:
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(_stop, observer)

    def _known(self) -> int:
        return len(self.index.tracks)

    async def _wait_for_root(self) -> None:
        # nothing to watch while the folder is missing (its parent may be gone too): poll
        while (  # noqa: ASYNC110
            await anyio.to_thread.run_sync(root_problem, self.root, self._known()) is not None
        ):
            await anyio.sleep(self.root_poll_s)
        logger.info("library folder %s is back: rescanning it", self.root)
        self._pending.take()  # whatever was noted about the old folder is moot

    async def _start_observer(self) -> BaseObserver | None:
        observer = self._observer_factory()
        try:
            await anyio.to_thread.run_sync(self._schedule, observer)
        except OSError as e:
            if e.errno not in LIMIT_ERRNOS:
                raise
            detail = (
                f"the OS refused more inotify watches ({e.strerror}); raise "
                "fs.inotify.max_user_watches / max_user_instances. Falling back to a full "
                f"scan every {self.poll_every_s:g} s"
            )
            logger.warning("watching %s: %s", self.root, detail)
            self._set_status("polling", detail)
            return None
        self._set_status("watching")
        return observer

    def _schedule(self, observer: BaseObserver) -> None:
        observer.schedule(_Handler(self.root, self._pending), str(self.root), recursive=True)
        try:
            observer.start()
        except BaseException:
            observer.stop()
            raise

    async def _follow(self, watching: bool) -> None:
        """Flush coalesced batches until the root folder goes away."""
        period = self.rescan_every_s if watching else self.poll_every_s
        while True:
            generation = self._pending.generation
            with anyio.move_on_after(period if period is not None else float("inf")) as idle:
                if self._pending.empty():
                    await self._pending.wait_beyond(generation)
            if idle.cancelled_caught:
                scope, gone = FULL, False
            else:
                await self._quiet()
                scope, gone = self._pending.take()
            if gone or not await self._flush(scope):
                return

    async def _quiet(self) -> None:
        """Wait until no path was noted for `debounce_s`, or `max_delay_s` have passed."""
        with anyio.move_on_after(self.max_delay_s):
            while True:
                generation = self._pending.generation
                with anyio.move_on_after(self.debounce_s) as calm:
                    await self._pending.wait_beyond(generation)
                    await checkpoint()  # let the same burst's next notes arrive
                if calm.cancelled_caught:
                    return

    async def _flush(self, scope: Scope, progress: Progress | None = None) -> bool:
        """Rescan `scope`, delivering its events as they are decided; False if the root folder
        is gone."""
        if await anyio.to_thread.run_sync(root_problem, self.root, self._known()) is not None:
            return False  # a folder that cannot be listed would look empty: scan nothing
        try:
            result = await scan(
                self.root,
                self.index,
                now_ms=self._now_ms,
                new_id=self._new_id,
                scope=scope,
                limiter=self._limiter,
                progress=progress,
                deliver=self._deliver,
            )
        except LibraryMissingError:
            return False
        self.batches += 1
        if progress is not None:
            stats = result.stats
            logger.info(
                "library %s scanned: %d files in %.1f s, %d added, %d modified, %d moved, "
                "%d deleted, %d unreadable",
                self.root,
                stats.files,
                stats.seconds,
                stats.added,
                stats.modified,
                stats.moved,
                stats.deleted,
                stats.unreadable,
            )
        return True

    def _progress(self, done: int, listed: int) -> None:
        self.status = WatchStatus("scanning", f"{done} of {listed} files")
        now = time.monotonic()
        if now - self._told_at >= PROGRESS_EVERY_S:
            self._told_at = now
            logger.info("scanning library %s: %d of %d files", self.root, done, listed)

    def _set_status(self, mode: Mode, detail: str = "") -> None:
        if mode != self.status.mode:
            shown = f" ({detail})" if detail else ""
            logger.info("library watcher %s: %s%s", self.root, mode, shown)
        self.status = WatchStatus(mode, detail)


def _stop(observer: BaseObserver) -> None:
    observer.stop()
    if observer.is_alive():
        observer.join()
