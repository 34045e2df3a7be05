"""Degraded mode: when the log cannot be written the service keeps serving what it has, refuses
writes with a JSON 503 (507 for a full disk) and Retry-After, keeps its own facts, says so in
/v1/status, and resumes by itself once the cause goes away, with nothing acknowledged lost.

Each fault is real: another connection holding `BEGIN IMMEDIATE`, a tmpfs that fills up, the
database deleted under the running service.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from adapters import bootstrap
from adapters.http.config import HttpConfig
from adapters.runtime.service import Service, ServiceConfig
from adapters.runtime.writes import LogUnwritableError
from domain.events import MemoryPressureChanged, PositionReported, WritesResumed
from domain.tiers import chunk_id
from storage.chain import first_break
from storage.errors import DatabaseReplacedError
from storage.sqlite_store import SqliteEventStore
from tests.adapters.runtime.conftest import (
    DEADLINE_S,
    ConfigMaker,
    add_library,
    idle,
    key_of,
    logged,
    play,
    until,
)
from tests.support.clock import FixedClock
from tests.support.mounts import MountRefused, fill, tmpfs

pytestmark = pytest.mark.anyio


async def until_writable(service: Service) -> None:
    """Wait (with a deadline) until the log can be written again."""
    writes = service.app.writes
    changed = anyio.Event()
    writes.on_change.append(changed.set)
    try:
        with anyio.fail_after(DEADLINE_S):
            while not writes.writable:
                await changed.wait()
                changed = anyio.Event()
                writes.on_change[-1] = changed.set
    finally:
        writes.on_change.pop()


@asynccontextmanager
async def http_service(config: ServiceConfig) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    async with bootstrap.service(config, http=HttpConfig(port=0)) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=DEADLINE_S) as client:
            yield service, client


def position(ms: int) -> dict[str, Any]:
    return {"type": "PositionReported", "position_ms": ms}


async def all_in_log(service: Service, acknowledged: dict[str, int]) -> None:
    """Every acknowledged event is in the log, at its sequence number, and the chain holds."""
    stored = {r.event_id: r.seq async for r in service.app.log.events.read_rows()}
    assert {i: stored.get(i) for i in acknowledged} == acknowledged
    rows = await anyio.to_thread.run_sync(lambda: list(service.app.log.events.iter_rows()))
    assert first_break(rows) is None


async def test_a_write_lock_held_past_the_busy_timeout_degrades_and_resumes(
    make_config: ConfigMaker,
) -> None:
    config = msgspec.structs.replace(make_config(workers=2), busy_timeout_s=0.3)
    async with http_service(config) as (service, client):
        track = (await add_library(service))["a.flac"]
        state = await play(service, track)
        first = key_of(state, track, 0)
        await until(service, lambda s: chunk_id(first) in s.cache.held and idle(s))
        acknowledged: dict[str, int] = {}
        for ms in (1_000, 2_000):
            answer = (await client.post("/v1/interactions", json=position(ms))).json()
            acknowledged[answer["event_id"]] = answer["seq"]

        other = sqlite3.connect(config.db, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            refused = await client.post("/v1/interactions", json=position(3_000))
            assert refused.status_code == 503
            assert int(refused.headers["Retry-After"]) >= 1
            error = refused.json()["error"]
            assert error["code"] == "log-busy" and "nothing was recorded" in error["message"]
            again = await client.post("/v1/interactions", json=position(3_100))
            assert again.status_code == 503  # at once, without waiting for the lock again
            status = (await client.get("/v1/status")).json()
            assert status["log"]["status"] == "degraded" and status["log"]["cause"] == "busy"
            assert status["log"]["refused"] >= 2
            # what is ready is still served (the request is not recorded)
            hit = await client.get(f"/v1/chunks/{first.index}", params={"wait_ms": 0})
            assert hit.status_code == 200 and hit.headers["X-Chunk-Status"] == "hit"
            # the service's own facts are kept for later
            kept = await service.app.record(MemoryPressureChanged("warning", 0.8))
            assert kept == []
        finally:
            other.execute("ROLLBACK")
            other.close()

        await until_writable(service)
        assert (await client.get("/v1/status")).json()["log"]["status"] == "ok"
        answer = (await client.post("/v1/interactions", json=position(4_000))).json()
        acknowledged[answer["event_id"]] = answer["seq"]
        (resumed,) = await logged(service, WritesResumed)
        assert resumed.cause == "busy" and resumed.refused >= 2 and resumed.deferred >= 1
        assert [e.level for e in await logged(service, MemoryPressureChanged)] == ["warning"]
        await all_in_log(service, acknowledged)


@pytest.fixture
def db_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs for the database (skipped with the reason where mounting is refused)."""
    try:
        with tmpfs(tmp_path / "dbdisk", size_kib=3 * 1024) as disk:
            yield disk
    except MountRefused as e:
        pytest.skip(f"a tmpfs cannot be mounted here: {e}")


async def test_a_full_database_disk_answers_507_and_resumes_when_there_is_room(
    make_config: ConfigMaker, db_disk: Path
) -> None:
    config = msgspec.structs.replace(make_config(workers=1), db=db_disk / "tierbuffer.db")
    async with http_service(config) as (service, client):
        track = (await add_library(service))["a.flac"]
        await play(service, track)
        acknowledged: dict[str, int] = {}
        filler = fill(db_disk)
        status_code, ms = 200, 0
        while status_code == 200 and ms < 50_000:  # what the WAL had room for goes in first
            ms += 10
            answer = await client.post("/v1/interactions", json=position(ms))
            status_code = answer.status_code
            if status_code == 200:
                acknowledged[answer.json()["event_id"]] = answer.json()["seq"]
        assert status_code == 507, answer.text
        assert answer.json()["error"]["code"] == "log-disk-full"
        assert int(answer.headers["Retry-After"]) >= 1
        log = (await client.get("/v1/status")).json()["log"]
        assert (log["status"], log["cause"]) == ("degraded", "disk_full")
        assert (await client.get("/v1/tracks")).status_code == 200  # reads go on

        filler.unlink()
        await until_writable(service)
        answer = await client.post("/v1/interactions", json=position(ms + 10))
        assert answer.status_code == 200
        acknowledged[answer.json()["event_id"]] = answer.json()["seq"]
        (resumed,) = await logged(service, WritesResumed)
        assert resumed.cause == "disk_full"
        await all_in_log(service, acknowledged)


async def test_a_database_deleted_under_the_service_stops_writes_keeps_reads_then_ends_it(
    make_config: ConfigMaker, tmp_path: Path
) -> None:
    config = msgspec.structs.replace(make_config(workers=1), replaced_grace_s=2.0)
    acknowledged: dict[str, int] = {}
    with pytest.raises(DatabaseReplacedError) as ended:
        async with http_service(config) as (service, client):
            track = (await add_library(service))["a.flac"]
            state = await play(service, track)
            first = key_of(state, track, 0)
            await until(service, lambda s: chunk_id(first) in s.cache.held)
            for ms in (1_000, 2_000):
                answer = (await client.post("/v1/interactions", json=position(ms))).json()
                acknowledged[answer["event_id"]] = answer["seq"]
            config.db.unlink()
            refused = await client.post("/v1/interactions", json=position(3_000))
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "log-replaced"
            assert str(tmp_path) not in refused.text  # no server path reaches a client
            log = (await client.get("/v1/status")).json()["log"]
            assert (log["status"], log["cause"]) == ("stopped", "replaced")
            hit = await client.get(f"/v1/chunks/{first.index}", params={"wait_ms": 0})
            assert hit.status_code == 200  # reads are served through the grace period
            with pytest.raises(LogUnwritableError):
                await service.player.interact(PositionReported(position_ms=4_000))
            await anyio.sleep(DEADLINE_S)  # the service ends itself after its grace period
    error = ended.value
    assert error.what == config.db and "was deleted" in str(error)
    assert error.rescued is not None  # every acknowledged event is in the copy it kept
    rescued = await SqliteEventStore.open(
        error.rescued, clock=FixedClock(), create=False, migrate=False
    )
    try:
        stored = {r.event_id: r.seq for r in rescued.iter_rows()}
        assert {i: stored.get(i) for i in acknowledged} == acknowledged
        assert first_break(list(rescued.iter_rows())) is None
    finally:
        await rescued.aclose()
    assert not config.db.exists()  # nothing was written to a new file at the path
