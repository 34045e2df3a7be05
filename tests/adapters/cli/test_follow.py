"""`tierbuffer log --follow` in a process of its own: it prints what another process appends, woken
by the log's notifications on PostgreSQL (a poll of an hour would never come), by polling on
SQLite; Ctrl-C ends it with exit 0. A follower whose notifications stop falls back to polling."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

from adapters.audit.follow import Wakeups
from storage.errors import DatabaseError
from storage.location import PgUrl
from storage.memory_store import InMemoryEventStore
from tests.support.clock import FixedClock
from tests.support.events import mixed_events
from tests.support.stores import open_store

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, db_path: Path) -> Path | PgUrl:
    if request.param == "postgresql":
        url: PgUrl = request.getfixturevalue("pg_url")
        return url
    return db_path


class Follower:
    """The `log --follow` process's output, line by line."""

    def __init__(self, process: Process) -> None:
        assert process.stdout is not None
        self._text = TextReceiveStream(process.stdout)
        self._pending = ""

    async def lines(self, count: int) -> list[dict[str, object]]:
        """The next `count` JSON lines it prints."""
        while self._pending.count("\n") < count:
            self._pending += await self._text.receive()
        lines = self._pending.split("\n")
        self._pending = "\n".join(lines[count:])
        return [json.loads(line) for line in lines[:count]]


async def test_follow_prints_anothers_appends_and_ends_on_ctrl_c(where: Path | PgUrl) -> None:
    store = await open_store(where, clock=FixedClock())
    try:
        await store.append(mixed_events(3, seed=1))
        target = where.url if isinstance(where, PgUrl) else str(where)
        # On PostgreSQL only a notification can wake it within the deadline.
        poll = "3600" if isinstance(where, PgUrl) else "0.05"
        command = [sys.executable, "-m", "adapters.cli", "--db", target, "log", "--follow"]
        command += ["--format", "jsonl", "--poll", poll]
        process = await anyio.open_process(command, cwd=REPO)
        try:
            follower = Follower(process)
            with anyio.fail_after(30):  # the start of a Python process, on a loaded machine
                assert [e["seq"] for e in await follower.lines(3)] == [1, 2, 3]
            await store.append(mixed_events(4, seed=2))
            with anyio.fail_after(10):
                assert [e["seq"] for e in await follower.lines(4)] == [4, 5, 6, 7]
            process.send_signal(signal.SIGINT)
            with anyio.fail_after(10):
                assert await process.wait() == 0
        finally:
            if process.returncode is None:
                process.kill()
            await process.aclose()
    finally:
        await store.aclose()


class LostFeed(InMemoryEventStore):
    """A store whose change feed tells of one commit, then loses its connection."""

    def __init__(self) -> None:
        super().__init__(clock=FixedClock())
        self.lost = anyio.Event()

    async def changes(self) -> AsyncIterator[int]:
        yield 0
        yield 1
        await self.lost.wait()
        raise DatabaseError("postgresql://h/db", "the listening connection was lost")


async def test_a_follower_whose_feed_is_lost_falls_back_to_polling(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = LostFeed()
    wakeups = Wakeups(store, poll_s=0.01)
    async with anyio.create_task_group() as tg:
        await wakeups.start(tg)
        with anyio.fail_after(5):
            await wakeups.next()  # the notified commit
        with anyio.move_on_after(0.2) as waited:
            await wakeups.next()  # no notification, no poll: it would wait for ever
        assert waited.cancelled_caught
        store.lost.set()
        with anyio.fail_after(5):
            await wakeups.next()  # woken by the loss ...
            await wakeups.next()  # ... then by polling
    assert "polling every 0.01 s" in caplog.text
