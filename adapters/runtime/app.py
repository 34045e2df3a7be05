"""The application: appends events, folds the log into the state, and tells waiters it moved on.

Appends are acknowledged as soon as their commit is done; folding runs in its own task
(`follow`), which reads the tail of the log after the state's sequence number, so events appended
by anyone (this process, a CLI `ingest` beside it) end up in the state in log order.
Listeners (the scheduler, the janitor) are called after each fold with the new state. A store
with a change feed (PostgreSQL's LISTEN/NOTIFY) wakes `follow` when anyone appends; others are
polled.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import anyio
from anyio.abc import TaskStatus

from domain.events import DomainEvent, NewEvent
from domain.projection import evolve
from domain.state import State
from storage.errors import StoreError
from storage.eventstore import ChangeFeed
from storage.log import SNAPSHOTS_KEPT, Log

logger = logging.getLogger(__name__)


class Application:
    def __init__(
        self,
        log: Log,
        state: State,
        *,
        clock: Callable[[], int],
        new_id: Callable[[], str],
        snapshot_every: int,
    ) -> None:
        self.log = log
        self.clock = clock
        self.new_id = new_id
        self._state = state
        self._snapshot_every = snapshot_every
        self._appended = anyio.Event()
        self._folded = anyio.Event()
        self._fold_lock = anyio.Lock()
        self.listeners: list[Callable[[State], None]] = []
        self._discarded: list[str] = []
        self._acknowledged = state.seq
        self._snapshot_seq: int | None = None  # of the newest snapshot, read from the log once

    @property
    def state(self) -> State:
        return self._state

    async def append(self, events: Sequence[NewEvent]) -> list[int]:
        """Append in one transaction; returns the sequence numbers once committed."""
        seqs = await self.log.events.append(events)
        if seqs:
            self._acknowledged = max(self._acknowledged, max(seqs))
        self._appended.set()
        return seqs

    async def record(self, *events: DomainEvent, occurred_at: int | None = None) -> list[int]:
        """Append facts observed now by this process (worker outcomes, monitors, lifecycle)."""
        at = self.clock() if occurred_at is None else occurred_at
        return await self.append([NewEvent(self.new_id(), at, event) for event in events])

    async def catch_up(self) -> State:
        """Fold whatever the log holds past the state; snapshot when due."""
        async with self._fold_lock:
            state = self._state
            async for recorded in self.log.events.read(after=state.seq):
                state = evolve(state, recorded)
                if state.cache.discarded:
                    self._discarded.extend(state.cache.discarded)
            if state.seq != self._state.seq:
                self._state = state
                folded, self._folded = self._folded, anyio.Event()
                folded.set()
                for listener in self.listeners:
                    listener(state)
                await self._snapshot_if_due(state)
        return self._state

    async def _snapshot_if_due(self, state: State) -> None:
        """A snapshot every `snapshot_every` events, counted in memory (no query per fold)."""
        if self._snapshot_every <= 0:
            return
        if self._snapshot_seq is None:
            self._snapshot_seq = await self.log.snapshots.latest_seq() or 0
        if state.seq - self._snapshot_seq >= self._snapshot_every:
            await self.log.snapshots.save(state, created_at=self.clock())
            await self.log.snapshots.prune(keep=SNAPSHOTS_KEPT)
            self._snapshot_seq = state.seq

    def take_discarded(self) -> list[str]:
        """Chunk files the folded events dropped (evicted, invalidated), to delete from disk."""
        taken, self._discarded = self._discarded, []
        return taken

    async def follow(
        self,
        *,
        poll_s: float = 0.25,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Keep the state folded up to the log's end: at once after every append of this
        process, and for events other processes appended (a CLI `ingest`) when the store's
        change feed says so, or every `poll_s` for a store without one (or whose feed ended)."""
        await self.catch_up()
        feed = self.log.events if isinstance(self.log.events, ChangeFeed) else None
        self._poll_s = poll_s if feed is None else math.inf
        async with anyio.create_task_group() as tg:
            if feed is not None:
                tg.start_soon(self._wake_on_changes, feed, poll_s)
            task_status.started()
            while True:
                with anyio.move_on_after(self._poll_s):
                    await self._appended.wait()
                self._appended = anyio.Event()
                await self.catch_up()

    async def _wake_on_changes(self, feed: ChangeFeed, poll_s: float) -> None:
        try:
            async for _ in feed.changes():
                self._appended.set()
        except StoreError as e:
            logger.warning("no more change notifications (%s); polling every %s s", e, poll_s)
        self._poll_s = poll_s
        self._appended.set()

    async def changed(self, after_seq: int) -> State:
        """Wait until the state is past `after_seq` (use with a deadline)."""
        while self._state.seq <= after_seq:
            await self._folded.wait()
        return self._state

    async def until(self, predicate: Callable[[State], bool]) -> State:
        """Wait until the folded state satisfies `predicate` (use with a deadline)."""
        while not predicate(self._state):
            await self._folded.wait()
        return self._state

    async def settled(self) -> State:
        """The state once it has folded everything this process appended (no read of the log
        when it already has: cheaper than `catch_up` on a request path)."""
        return await self.until_seq(self._acknowledged)

    async def until_seq(self, seq: int) -> State:
        """Wait until the state has folded event `seq`."""
        return await self.until(lambda state: state.seq >= seq)
