"""When `log --follow` looks again: at once when the store says another commit landed (PostgreSQL's
`LISTEN/NOTIFY`, `storage.eventstore.ChangeFeed`), else every `poll_s` (SQLite, or a feed that
ended because its connection was lost)."""

from __future__ import annotations

import logging
import math

import anyio
from anyio.abc import TaskGroup, TaskStatus

from storage.errors import StoreError
from storage.eventstore import ChangeFeed, EventStore

logger = logging.getLogger(__name__)


class Wakeups:
    """`await wakeups.start(tg)` once (listening has begun when it returns, so no commit after
    it is missed), then `await wakeups.next()` between reads."""

    def __init__(self, events: EventStore, *, poll_s: float) -> None:
        self._feed = events if isinstance(events, ChangeFeed) else None
        self._poll_s = poll_s
        self._wait_s = poll_s
        self._changed = anyio.Event()

    async def start(self, tg: TaskGroup) -> None:
        if self._feed is not None:
            await tg.start(self._listen, self._feed)

    async def next(self) -> None:
        """Until the next notified commit, or `poll_s` without a feed."""
        with anyio.move_on_after(self._wait_s):
            await self._changed.wait()
        self._changed = anyio.Event()

    async def _listen(
        self, feed: ChangeFeed, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        started = False
        try:
            async for _ in feed.changes():
                if not started:
                    self._wait_s, started = math.inf, True
                    task_status.started()
                self._changed.set()
        except StoreError as e:
            logger.warning("no more change notifications (%s); polling every %s s", e, self._poll_s)
        finally:
            self._wait_s = self._poll_s
            self._changed.set()
        if not started:
            task_status.started()
