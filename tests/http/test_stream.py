"""The server-sent-events stream: from a sequence number, heartbeats, resumed with Last-Event-ID."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from adapters.runtime.service import Service
from tests.http.conftest import DEADLINE_S

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


async def test_a_stream_ends_after_its_event_budget_and_resumes_from_the_log(
    service: Service, client: httpx.AsyncClient
) -> None:
    for n in range(6):
        await _pause(client, n)
    api_config = service.config.http
    assert api_config is not None
    # The budget is per connection; with the test config it is large, so page through /v1/events
    # as a client that fell behind would, and check it agrees with the stream.
    page = (await client.get("/v1/events", params={"after": 0, "limit": 1000})).json()
    with anyio.fail_after(DEADLINE_S):
        async with client.stream("GET", "/v1/stream", params={"after": 0}) as response:
            ids, _ = await _events(response.aiter_lines(), len(page["events"]))
    assert ids == [e["seq"] for e in page["events"]]
