"""Degraded mode: whether the log can be written now, and the service's own facts waiting for it.

When an append fails because of the file, not the events (another process holds the write lock
past the busy timeout, the disk is full, the database is read-only or its last row damaged), the
service does not stop: it serves what it has and

- refuses its clients' writes at once (`LogUnwritableError`: HTTP 503 with Retry-After, 507 for
  a full disk); nothing of a refused write is in the log, so nothing acknowledged is lost and a
  client may retry with the same id;
- keeps its own facts (worker outcomes, library changes, memory pressure) in order, in memory
  (at most `MAX_DEFERRED`; beyond that they are dropped and counted: the library rescan and the
  start-up reconciliation find them again);
- tries again with back-off (0.5 s doubling to 10 s): the facts kept and a `WritesResumed` event
  in one transaction, which is the probe; once it commits, writes are open again.

A database or WAL deleted or replaced under the running service (`DatabaseReplacedError`) is not
transient: whatever is written would go to a file nobody reads again, so writes stop for good in
this process (`stopped` is set; the service decides how long it still serves reads).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Literal

import anyio
import msgspec
from anyio.abc import TaskStatus

from adapters.errors import AdapterError
from domain.events import NewEvent, WriteFault, WritesResumed
from storage.errors import (
    DatabaseBusyError,
    DatabaseError,
    DatabaseReplacedError,
    DiskFullError,
    MalformedRowError,
    ReadOnlyDatabaseError,
    StoreError,
)

logger = logging.getLogger(__name__)

#: Errors of an append that say the log cannot be written now, whatever the events.
WRITE_FAULTS: Final = (DatabaseError, MalformedRowError)
BACKOFF_FIRST_S: Final[float] = 0.5
BACKOFF_MAX_S: Final[float] = 10.0
MAX_DEFERRED: Final[int] = 50_000
#: Deferred facts appended per transaction once the log is writable again.
FLUSH_BATCH: Final[int] = 1_000

Cause = Literal["busy", "disk_full", "read_only", "damaged", "unavailable", "replaced"]
LogState = Literal["ok", "degraded", "stopped"]


def cause_of(error: StoreError) -> Cause:
    if isinstance(error, DatabaseReplacedError):
        return "replaced"
    if isinstance(error, DatabaseBusyError):
        return "busy"
    if isinstance(error, DiskFullError):
        return "disk_full"
    if isinstance(error, ReadOnlyDatabaseError):
        return "read_only"
    if isinstance(error, MalformedRowError):
        return "damaged"
    return "unavailable"


def reason_of(error: StoreError) -> str:
    """What went wrong, without the database's path (clients see it)."""
    if isinstance(error, DatabaseReplacedError):
        said = f"the database file {error.what.name} {error.how} while in use; writes stopped"
        if error.rescued is not None:
            said += f"; the log as it was is kept beside it as {error.rescued.name}"
        return said
    return str(getattr(error, "reason", "")) or type(error).__name__


class LogUnwritableError(AdapterError):
    """A write refused because the log cannot be written now; nothing of it was appended."""

    def __init__(self, cause: Cause, detail: str, retry_after_s: float) -> None:
        super().__init__(f"the event log cannot be written now ({cause}): {detail}")
        self.cause = cause
        self.detail = detail
        self.retry_after_s = retry_after_s


class LogStatus(msgspec.Struct, frozen=True):
    """What `/v1/status` says about the log's writes."""

    status: LogState = "ok"
    cause: Cause | None = None
    detail: str = ""
    down_ms: int = 0  # how long writes have been refused
    retry_in_ms: int | None = None  # the next attempt (None: none planned)
    refused: int = 0  # client writes refused during this outage
    deferred: int = 0  # facts of the service waiting for the log
    dropped: int = 0  # facts of the service dropped since the start (beyond MAX_DEFERRED)
    outages: int = 0  # since the service started


class _Outage(msgspec.Struct):
    cause: Cause
    detail: str
    since_ms: int
    tries: int = 0
    refused: int = 0
    deferred: int = 0
    next_at: float = 0.0  # anyio's clock: when the next attempt is due


Append = Callable[[Sequence[NewEvent]], Awaitable[list[int]]]


class LogWrites:
    """`keep` for the service's facts, `refuse_if_down`/`refused` around its clients' appends,
    and `run` (a task of the service) trying again while the log cannot be written."""

    def __init__(
        self, append: Append, *, clock: Callable[[], int], new_id: Callable[[], str]
    ) -> None:
        self._append = append
        self._clock = clock
        self._new_id = new_id
        self._pending: list[NewEvent] = []
        self._outage: _Outage | None = None
        self._wake = anyio.Event()
        self.stopped = anyio.Event()  # the database went away: writes never resume here
        self.stop_error: DatabaseReplacedError | None = None
        self.on_change: list[Callable[[], None]] = []
        self._dropped = 0
        self._outages = 0

    @property
    def writable(self) -> bool:
        return self._outage is None and self.stop_error is None

    def status(self) -> LogStatus:
        outage = self._outage
        if self.stop_error is not None:
            detail = reason_of(self.stop_error)
            return LogStatus("stopped", "replaced", detail, dropped=self._dropped)
        if outage is None:
            return LogStatus(deferred=len(self._pending), dropped=self._dropped)
        return LogStatus(
            "degraded",
            outage.cause,
            outage.detail,
            max(0, self._clock() - outage.since_ms),
            round(self._retry_in_s() * 1000),
            outage.refused,
            len(self._pending),
            self._dropped,
            self._outages,
        )

    # --- clients' writes: acknowledged or refused ---------------------------------------------

    def refuse_if_down(self) -> None:
        """Refuse a client's write at once while the log cannot be written."""
        if self.stop_error is not None:
            raise LogUnwritableError("replaced", reason_of(self.stop_error), 60.0)
        if self._outage is not None:
            self._outage.refused += 1
            raise self._refusal(self._outage)

    def refused(self, error: StoreError) -> LogUnwritableError:
        """A client's append failed with `error`: the outage it starts (or continues)."""
        self._fault(error)
        if self._outage is not None:
            self._outage.refused += 1
            return self._refusal(self._outage)
        return LogUnwritableError(cause_of(error), reason_of(error), 60.0)

    def _refusal(self, outage: _Outage) -> LogUnwritableError:
        return LogUnwritableError(outage.cause, outage.detail, self._retry_in_s())

    # --- the service's facts: appended, or kept until they can be ------------------------------

    async def keep(self, events: Sequence[NewEvent]) -> list[int]:
        """Append the service's own facts; when the log cannot be written (or facts are already
        waiting, which go first), keep them and append them later: `[]` then."""
        if not events:
            return []
        if self.stop_error is not None:
            self._drop(len(events))
            return []
        if self._outage is not None or self._pending:
            self._defer(events)
            return []
        try:
            return await self._append(events)
        except WRITE_FAULTS as e:
            self._fault(e)
            self._defer(events)
            return []
        except anyio.get_cancelled_exc_class():
            self._defer(events)  # maybe committed: appending them again is a no-op
            raise

    def _defer(self, events: Sequence[NewEvent]) -> None:
        if self.stop_error is not None:
            self._drop(len(events))
            return
        room = MAX_DEFERRED - len(self._pending)
        if room < len(events):
            self._drop(len(events) - max(0, room))
        self._pending.extend(events[: max(0, room)])
        if self._outage is not None:
            self._outage.deferred += min(len(events), max(0, room))
        self._wake.set()

    def _drop(self, count: int) -> None:
        if count > 0 and self._dropped == 0:
            logger.warning("the service's own facts are dropped: the event log cannot take them")
        self._dropped += max(0, count)

    # --- faults and recovery ----------------------------------------------------------------

    def _fault(self, error: StoreError) -> None:
        cause, detail = cause_of(error), reason_of(error)
        if isinstance(error, DatabaseReplacedError):
            self._stop(error)
            return
        outage = self._outage
        if outage is None:
            self._outage = _Outage(cause, detail, self._clock())
            self._outage.next_at = anyio.current_time() + BACKOFF_FIRST_S
            self._outages += 1
            logger.warning(
                "the event log cannot be written (%s: %s): serving what is ready, refusing "
                "writes, retrying",
                cause,
                detail,
            )
            self._changed()
        else:
            outage.cause, outage.detail = cause, detail
        self._wake.set()

    def _stop(self, error: DatabaseReplacedError) -> None:
        if self.stop_error is not None:
            return
        self.stop_error = error
        self._drop(len(self._pending))
        self._pending.clear()
        self._outage = None
        logger.error("%s: nothing more is written to the log", error)
        self.stopped.set()
        self._changed()

    def _recovered(self, outage: _Outage) -> None:
        self._outage = None
        logger.warning(
            "the event log can be written again after %.1f s (%s); %d facts of the service "
            "kept meanwhile are in it, %d client writes were refused",
            (self._clock() - outage.since_ms) / 1000,
            outage.cause,
            outage.deferred,
            outage.refused,
        )
        self._changed()

    def _changed(self) -> None:
        for listener in self.on_change:
            listener()

    def _retry_in_s(self) -> float:
        if self._outage is None:
            return 0.0
        return max(0.0, self._outage.next_at - anyio.current_time())

    # --- trying again -----------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Append what is kept, and while the log cannot be written try again with back-off."""
        task_status.started()
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            while (self._pending or self._outage is not None) and self.stop_error is None:
                if self._outage is not None:
                    await anyio.sleep(self._retry_in_s())
                await self.flush()

    async def flush(self) -> bool:
        """One attempt at appending what is kept (with `WritesResumed` during an outage): True
        when it committed."""
        if self.stop_error is not None:
            return False
        outage = self._outage
        batch = self._pending[:FLUSH_BATCH]
        events = list(batch)
        if outage is not None:
            events.append(self._resumed(outage))
        if not events:
            return True
        try:
            await self._append(events)
        except WRITE_FAULTS as e:
            self._fault(e)
            if self._outage is not None:
                self._outage.tries += 1
                exponent = min(self._outage.tries - 1, 8)
                delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**exponent)
                self._outage.next_at = anyio.current_time() + delay
            return False
        del self._pending[: len(batch)]
        if outage is not None:
            self._recovered(outage)
        return True

    def _resumed(self, outage: _Outage) -> NewEvent:
        now = self._clock()
        cause: WriteFault = "unavailable" if outage.cause == "replaced" else outage.cause
        note = WritesResumed(
            cause,
            max(0, now - outage.since_ms),
            outage.refused,
            outage.deferred,
            outage.detail[:500],
        )
        return NewEvent(self._new_id(), now, note)

    async def drain(self) -> int:
        """At shutdown: try to append what is kept, once (bounded by the caller's deadline);
        how many facts could not be written."""
        if self._pending or self._outage is not None:
            await self.flush()
        left = len(self._pending) if self.stop_error is None else self._dropped
        if left:
            logger.error(
                "%d facts of the service could not be written to the event log (they are found "
                "again at the next start: the library is rescanned, orphaned chunk files removed)",
                left,
            )
        return left


def retry_after_header(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
