"""The server-sent-events stream: from a sequence number, heartbeats, resumed with Last-Event-ID."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import msgspec
import pytest

from adapters import bootstrap
from adapters.http.config import HttpConfig
from adapters.runtime.service import Service, ServiceConfig
from tests.adapters.http.conftest import DEADLINE_S

pytestmark = pytest.mark.anyio


async def _events(lines: AsyncIterator[str], count: int) -> tuple[list[int], bool]:
    """The ids of the next `count` events, and whether a heartbeat came before them."""
    ids: list[int] = []
    heartbeat = False
    async for line in lines:
        if line.startswith(": heartbeat"):
            heartbeat = True
        elif line.startswith("id: "):
            ids.append(int(line[4:]))
            if len(ids) == count:
                break
    return ids, heartbeat


async def _pause(client: httpx.AsyncClient, n: int) -> None:
    got = await client.post(
        "/v1/interactions", json={"type": "Paused", "at": 1_800_000_000_000 + n}
    )
    assert got.status_code == 200


async def test_the_stream_resumes_after_a_disconnect_with_last_event_id(
    service: Service, client: httpx.AsyncClient
) -> None:
    start = await service.app.log.events.last_seq()
    for n in range(3):
        await _pause(client, n)
    with anyio.fail_after(DEADLINE_S):
        async with client.stream("GET", "/v1/stream", params={"after": start}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            first, _ = await _events(response.aiter_lines(), 2)
        assert first == [start + 1, start + 2]
        # Disconnected; more happens meanwhile; the client resumes after the last id it got.
        for n in range(3, 5):
            await _pause(client, n)
        headers = {"Last-Event-ID": str(first[-1])}
        async with client.stream("GET", "/v1/stream", headers=headers) as response:
            lines = response.aiter_lines()
            resumed, _ = await _events(lines, 3)
            assert resumed == [first[-1] + 1, first[-1] + 2, first[-1] + 3]
            # Caught up: a heartbeat while idle, then the next event as soon as it is appended.
            last = await service.app.log.events.last_seq()
            async with anyio.create_task_group() as tg:
                tg.start_soon(_pause, client, 99)
                live, _ = await _events(lines, last - resumed[-1] + 1)
            assert live[-1] == last + 1


async def test_the_stream_heartbeats_while_idle(
    service: Service, client: httpx.AsyncClient
) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with client.stream("GET", "/v1/stream") as response:
            async for line in response.aiter_lines():
                if line.startswith(": heartbeat"):
                    break


async def test_a_bad_last_event_id_is_refused(service: Service, client: httpx.AsyncClient) -> None:
    got = await client.get("/v1/stream", headers={"Last-Event-ID": "yesterday"})
    assert got.status_code == 422 and got.json()["error"]["field"] == "Last-Event-ID"


@pytest.fixture
async def small_streams(
    service_config: ServiceConfig, http_config: HttpConfig
) -> AsyncIterator[Service]:
    http = msgspec.structs.replace(http_config, stream_max_events=3)
    async with bootstrap.service(service_config, http=http) as running:
        await running.scanned()
        yield running


async def test_a_stream_ends_after_its_event_budget_and_the_client_resumes(
    small_streams: Service,
) -> None:
    base = f"http://127.0.0.1:{small_streams.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=DEADLINE_S) as client:
        for n in range(7):
            await _pause(client, n)
        last = await small_streams.app.log.events.last_seq()
        seen: list[int] = []
        with anyio.fail_after(DEADLINE_S):
            while not seen or seen[-1] < last:
                headers = {"Last-Event-ID": str(seen[-1] if seen else 0)}
                async with client.stream("GET", "/v1/stream", headers=headers) as response:
                    ids: list[int] = []
                    async for line in response.aiter_lines():
                        if line.startswith("id: "):
                            ids.append(int(line[4:]))
                            if ids[-1] == last:
                                break
                    else:  # the server ended the stream: after exactly its budget of events
                        assert len(ids) == 3
                seen.extend(ids)
        assert seen == list(range(1, last + 1))
