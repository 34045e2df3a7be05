"""Real folders, real audio (tiny), a real watchdog observer; waits have deadlines, not sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from adapters.ids import UuidV7Source
from adapters.library.index import LibraryIndex
from adapters.library.scan import ScanResult, scan
from adapters.library.watch import LibraryWatcher
from domain.events import DomainEvent, NewEvent
from domain.state import State
from tests.support.clock import FixedClock

DEADLINE_S = 10.0


async def scan_once(root: Path, index: State | LibraryIndex, **kwargs: object) -> ScanResult:
    return await scan(root, index, now_ms=FixedClock(), new_id=UuidV7Source(), **kwargs)  # type: ignore[arg-type]


def kinds(events: Sequence[NewEvent | DomainEvent]) -> list[str]:
    return [type(e.event if isinstance(e, NewEvent) else e).__name__ for e in events]


class Collected:
    """What a watcher delivered, batch by batch; `until` waits (with a deadline) for a condition."""

    def __init__(self) -> None:
        self.batches: list[list[DomainEvent]] = []
        self._changed = anyio.Event()

    async def deliver(self, events: Sequence[NewEvent]) -> None:
        self.batches.append([e.event for e in events])
        self._changed.set()
        self._changed = anyio.Event()

    @property
    def events(self) -> list[DomainEvent]:
        return [e for batch in self.batches for e in batch]

    async def until(
        self, condition: Callable[[list[DomainEvent]], bool], deadline_s: float = DEADLINE_S
    ) -> list[DomainEvent]:
        with anyio.fail_after(deadline_s):
            while True:
                changed = self._changed
                if condition(self.events):
                    return self.events
                await changed.wait()

    def clear(self) -> None:
        self.batches.clear()


@asynccontextmanager
async def watching(
    root: Path, state: State | LibraryIndex, **kwargs: object
) -> AsyncIterator[tuple[LibraryWatcher, Collected]]:
    collected = Collected()
    options: dict[str, object] = {"debounce_s": 0.15, "max_delay_s": 1.0, "root_poll_s": 0.05}
    options.update(kwargs)
    watcher = LibraryWatcher(
        root,
        state,
        collected.deliver,
        now_ms=FixedClock(),
        new_id=UuidV7Source(),
        **options,  # type: ignore[arg-type]
    )
    async with anyio.create_task_group() as tg:
        await tg.start(watcher.run)  # ready at once; the first scan runs in the background
        with anyio.fail_after(DEADLINE_S):
            await watcher.scanned.wait()
        yield watcher, collected
        tg.cancel_scope.cancel()


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    root.mkdir()
    return root
