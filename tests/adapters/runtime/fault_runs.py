"""Long fault runs: the same fault injected again and again into a service under load.

A player posts a position report over HTTP every `LOAD_PERIOD_S` the whole time and notes each
acknowledged event (id and sequence number), each refusal (503/507 while the log cannot be
written: expected) and anything else (unexpected: a 500, a plain-text answer, a dropped
connection). A fault counts as survived when, while it lasts, the service answers and says what
is wrong, and when, once it is cleared, the service recovers by itself within the deadline. At
the end every acknowledged event must be in the log at its sequence number, and the chain must
hold: what is missing is counted as lost.

`bench/faults.py` runs the slow tests that use these and prints their tallies
(`$FAULT_RUNS_REPORT` names the file each test appends its tally to).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import anyio
import httpx
import msgspec

from adapters.runtime.service import Service
from storage.chain import first_break

FAULT_REPORT_ENV: Final = "FAULT_RUNS_REPORT"  # not TIERBUFFER_*: the tests clear those
LOAD_PERIOD_S: Final = 0.05


class Tally(msgspec.Struct):
    """What one run injected and what came of it."""

    fault: str
    injected: int = 0
    survived: int = 0
    acknowledged: int = 0
    refused: int = 0
    unexpected: int = 0
    lost: int = 0
    notes: list[str] = msgspec.field(default_factory=list)

    def report(self) -> None:
        """Append this tally to the file `$FAULT_RUNS_REPORT` names, if it names one."""
        target = os.environ.get(FAULT_REPORT_ENV)
        if target:
            with Path(target).open("a", encoding="utf-8") as out:
                out.write(json.dumps(msgspec.to_builtins(self)) + "\n")


class Load:
    """A player posting position reports; what the service acknowledged, refused or broke."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.acknowledged: dict[str, int] = {}
        self.refused = 0
        self.unexpected: list[str] = []
        self.position_ms = 1_000  # the playhead stays in chunk 0
        self._acked = anyio.Event()

    async def acknowledges(self, count: int, deadline_s: float) -> bool:
        """Whether `count` more of its posts are acknowledged within `deadline_s`."""
        goal = len(self.acknowledged) + count
        with anyio.move_on_after(deadline_s):
            while len(self.acknowledged) < goal:
                await self._acked.wait()
        return len(self.acknowledged) >= goal

    async def post(self, body: dict[str, object]) -> httpx.Response | None:
        try:
            answer = await self.client.post("/v1/interactions", json=body)
        except httpx.HTTPError as e:
            self.unexpected.append(f"{type(e).__name__}: {e}")
            return None
        if answer.status_code == 200:
            entry = answer.json()
            self.acknowledged[entry["event_id"]] = entry["seq"]
            self._acked.set()
            self._acked = anyio.Event()
        elif answer.status_code in (503, 507) and "error" in answer.json():
            self.refused += 1
        else:
            self.unexpected.append(f"{answer.status_code}: {answer.text[:200]}")
        return answer

    async def run(self) -> None:
        while True:
            await self.post({"type": "PositionReported", "position_ms": self.position_ms})
            await anyio.sleep(LOAD_PERIOD_S)


@asynccontextmanager
async def loaded(service: Service) -> AsyncIterator[Load]:
    """The service's HTTP API under a player's load for the `with` body."""
    base = f"http://127.0.0.1:{service.http_port}"
    async with (
        httpx.AsyncClient(base_url=base, timeout=30.0) as client,
        anyio.create_task_group() as tg,
    ):
        load = Load(client)
        tg.start_soon(load.run)
        yield load
        tg.cancel_scope.cancel()


async def settle(service: Service, load: Load, tally: Tally) -> None:
    """Count what was acknowledged and lost (an acknowledged event missing from the log, or at
    another sequence number), and whether the chain holds."""
    stored = {row.event_id: row.seq async for row in service.app.log.events.read_rows()}
    tally.acknowledged = len(load.acknowledged)
    tally.refused = load.refused
    tally.unexpected = len(load.unexpected)
    tally.notes.extend(load.unexpected[:5])
    tally.lost = sum(1 for i, seq in load.acknowledged.items() if stored.get(i) != seq)
    rows = await anyio.to_thread.run_sync(lambda: list(service.app.log.events.iter_rows()))
    broken = first_break(rows)
    if broken is not None:
        tally.notes.append(f"chain broken at {broken.seq}: {broken.reason}")


async def until_writable(service: Service, deadline_s: float) -> bool:
    """Whether the log is writable again within `deadline_s`."""
    writes = service.app.writes
    with anyio.move_on_after(deadline_s):
        while not writes.writable:
            changed = anyio.Event()
            writes.on_change.append(changed.set)
            try:
                if not writes.writable:
                    await changed.wait()
            finally:
                writes.on_change.remove(changed.set)
    return writes.writable
