"""Hostile input: every request that breaks a bound gets a JSON error naming it (never a 500,
never a hang, never an absolute path), and nothing of it reaches the log."""

from __future__ import annotations

import socket
import time
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from adapters.http.config import HttpConfig
from adapters.ingest import MAX_DEPTH, MAX_INT
from adapters.runtime.service import Service
from domain.events import DomainEvent

pytestmark = pytest.mark.anyio

TIMEOUT_S = 1.0
MAX_CONNECTIONS = 8


@pytest.fixture
def http_config() -> HttpConfig:
    return HttpConfig(
        host="127.0.0.1",
        port=0,
        heartbeat_s=0.5,
        request_timeout_s=TIMEOUT_S,
        max_connections=MAX_CONNECTIONS,
    )


async def _refused(
    service: Service, client: httpx.AsyncClient, body: bytes, status: int, field: str | None
) -> dict[str, Any]:
    before = await service.app.log.events.last_seq()
    answer = await client.post(
        "/v1/interactions", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["field"] == field
    assert await service.app.log.events.last_seq() == before
    return error


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30_000 + b"]" * 30_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        b'{"type":"Paused","x":' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}",
        b'{"type":"Paused","x":"[[[[[[[[[[[[[[[[[[[[", "y":' + b"[" * 3000,  # unterminated
    ],
)
async def test_deeply_nested_json_is_400_before_it_is_decoded(
    service: Service, client: httpx.AsyncClient, body: bytes
) -> None:
    error = await _refused(service, client, body, 400, None)
    assert error["code"] == "too-deep" and f"deeper than {MAX_DEPTH}" in error["message"]


async def test_brackets_inside_strings_do_not_count_as_nesting(
    service: Service, client: httpx.AsyncClient
) -> None:
    track = sorted(service.app.state.tracks)[0]
    body = {"type": "TrackChanged", "track": track, "id": "6f1c2b9e-3d7a-4e5b-9c1d-2a8f0e4b7c61"}
    raw = httpx.Request("POST", "/", json=body).content[:-1] + b', "note": "[[[[[[[[[[[[[[[["}'
    answer = await client.post("/v1/interactions", content=raw)
    assert answer.status_code == 422  # an unknown field, said as such: not a nesting error
    assert answer.json()["error"]["field"] == "note"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"type": "PositionReported", "position_ms": 10**30}, "position_ms"),
        ({"type": "PositionReported", "position_ms": 2**63}, "position_ms"),
        ({"type": "Seeked", "position_ms": MAX_INT + 1}, "position_ms"),
        ({"type": "TrackChanged", "track": "a\x1b[2Jb"}, "track"),
        ({"type": "TrackChanged", "track": "a\u009bb"}, "track"),
        ({"type": "TrackChanged", "track": "line\nbreak"}, "track"),
    ],
)
async def test_integers_out_of_range_and_control_characters_are_422(
    service: Service, client: httpx.AsyncClient, payload: dict[str, Any], field: str
) -> None:
    body = httpx.Request("POST", "/", json=payload).content
    await _refused(service, client, body, 422, field)


async def test_a_last_event_id_past_the_largest_sequence_number_is_422(
    client: httpx.AsyncClient,
) -> None:
    for resume in (str(2**64), str(MAX_INT + 1), "12a"):
        answer = await client.get("/v1/stream", headers={"Last-Event-ID": resume})
        assert answer.status_code == 422, resume
        assert answer.json()["error"]["field"] == "Last-Event-ID"


def _exchange(port: int, data: bytes, *, drip: bool = False) -> tuple[float, bytes]:
    """Send `data` (in 1 KiB pieces when `drip`), read until the server closes: (seconds, reply)."""
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10 * TIMEOUT_S) as conn:
        try:
            if drip:
                for n in range(0, len(data), 1024):
                    conn.sendall(data[n : n + 1024])
                    time.sleep(0.001)
            else:
                conn.sendall(data)
        except OSError:
            pass  # the server may close while we still send: its answer is what counts
        reply = b""
        try:
            while chunk := conn.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass  # closed with our bytes unread: what came before the reset is the reply
    return time.monotonic() - began, reply


async def _raw(service: Service, data: bytes, *, drip: bool = False) -> tuple[float, bytes]:
    assert service.http_port is not None
    port = service.http_port
    return await anyio.to_thread.run_sync(lambda: _exchange(port, data, drip=drip))


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "head",
    [
        b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
        b"GET /v1/status HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % n for n in range(500))
        + b"\r\n",
        b"GET /v1/status?" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["long-header", "many-headers", "long-url"],
)
async def test_a_head_over_the_limits_is_431_json(service: Service, head: bytes) -> None:
    _, reply = await _raw(service, head)
    assert _status(reply) == 431
    assert b"application/json" in reply and b'"code":"too-large"' in reply


async def test_a_head_dripped_past_the_limit_is_400_json(service: Service) -> None:
    head = b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000
    _, reply = await _raw(service, head, drip=True)
    assert _status(reply) == 400 and b'"code":"bad-request"' in reply


@pytest.mark.parametrize(
    "partial",
    [
        b"GET /v1/status HTTP/1.1\r\nHost: x\r\n",
        b"POST /v1/interactions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
    ],
    ids=["headers", "body"],
)
async def test_half_a_request_is_408_at_the_deadline(service: Service, partial: bytes) -> None:
    before = await service.app.log.events.last_seq()
    took, reply = await _raw(service, partial)
    assert _status(reply) == 408 and b'"code":"timeout"' in reply
    assert TIMEOUT_S * 0.8 <= took < TIMEOUT_S * 5
    assert await service.app.log.events.last_seq() == before


async def test_connections_past_the_cap_get_503_json_and_a_patient_client_gets_in(
    service: Service, client: httpx.AsyncClient
) -> None:
    assert service.http_port is not None
    held = [socket.create_connection(("127.0.0.1", service.http_port)) for _ in range(12)]
    try:
        await anyio.sleep(0.2)
        _, reply = await _raw(service, b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _status(reply) == 503 and b"retry-after: 1" in reply.lower()
    finally:
        for conn in held:
            conn.close()
    for _ in range(5):  # a client that honours Retry-After gets in
        answer = await client.get("/v1/status")
        if answer.status_code != 503:
            break
        await anyio.sleep(int(answer.headers["retry-after"]))
    assert answer.status_code == 200


async def test_an_open_stream_outlives_the_request_deadline(client: httpx.AsyncClient) -> None:
    async with client.stream("GET", "/v1/stream", params={"after": 0}) as stream:
        assert stream.status_code == 200
        await anyio.sleep(TIMEOUT_S * 1.5)
        lines = 0
        async for _ in stream.aiter_lines():
            lines += 1
            if lines >= 3:
                break
    assert lines == 3


async def test_no_absolute_server_path_reaches_a_client(
    service: Service, client: httpx.AsyncClient
) -> None:
    library, chunks = service.config.library, service.config.cache_dir
    key = {"track": "one.flac", "revision": 0, "preset": "warm", "intensity_tenths": 5, "index": 0}
    detail = f"[Errno 2] No such file or directory: '{library / 'one.flac'}' (under {chunks})"
    await service.app.record(
        msgspec.convert(
            {"type": "ChunkFailed", "key": key, "reason": "missing", "detail": detail},
            DomainEvent,
        )
    )
    page = await client.get("/v1/events", params={"type": "ChunkFailed"})
    shown = page.json()["events"][-1]["payload"]["detail"]
    assert shown == "[Errno 2] No such file or directory: 'one.flac' (under <chunks>)"
    assert int(page.headers["content-length"]) == len(page.content)
    async with client.stream("GET", "/v1/stream", params={"after": 0}) as stream:
        async for line in stream.aiter_lines():
            assert str(library) not in line and str(chunks) not in line
            if "ChunkFailed" in line and line.startswith("data:"):
                assert "'one.flac' (under <chunks>)" in line
                break
    for path in ("/v1/status", "/v1/tracks", "/v1/events"):
        body = (await client.get(path)).text
        assert str(service.config.db.parent) not in body, path
