"""The API over real HTTP: interactions, idempotent retries, chunks, status, log, errors."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from adapters.runtime.service import Service
from tests.adapters.http.conftest import DEADLINE_S, track_names

pytestmark = pytest.mark.anyio


async def _post(
    client: httpx.AsyncClient, body: dict[str, object], **headers: str
) -> httpx.Response:
    return await client.post("/v1/interactions", json=body, headers=headers)


async def test_an_interaction_is_appended_once_however_often_it_is_retried(
    service: Service, client: httpx.AsyncClient
) -> None:
    track = track_names(service)[0]
    body = {"type": "TrackChanged", "track": track}
    first = await _post(client, body, **{"Idempotency-Key": "play-1"})
    again = await _post(client, body, **{"Idempotency-Key": "play-1"})
    assert first.status_code == again.status_code == 200
    assert first.json()["seq"] == again.json()["seq"]
    assert first.json()["event_id"] == again.json()["event_id"]
    with_id = {"type": "PresetChanged", "preset": "warm", "id": str(uuid.uuid4())}
    a, b = await _post(client, with_id), await _post(client, with_id)
    assert a.json()["seq"] == b.json()["seq"] and a.json()["event_id"] == with_id["id"]
    rows = [r async for r in service.app.log.events.read_rows(types={"TrackChanged"})]
    assert len(rows) == 1


async def test_a_chunk_is_rendered_then_served_as_a_hit_with_its_checksum(
    service: Service, client: httpx.AsyncClient
) -> None:
    track = track_names(service)[0]
    assert (await _post(client, {"type": "TrackChanged", "track": track})).status_code == 200
    with anyio.fail_after(DEADLINE_S):
        while True:
            got = await client.get("/v1/chunks/0", params={"wait_ms": 20_000})
            if got.status_code == 200:
                break
            assert got.status_code == 202 and got.headers["retry-after"]
    assert got.headers["content-type"] == "audio/flac"
    assert got.content[:4] == b"fLaC"
    assert got.headers["x-chunk-checksum"] == "sha256:" + hashlib.sha256(got.content).hexdigest()
    hit = await client.get("/v1/chunks/0", params={"wait_ms": 0})
    assert hit.status_code == 200 and hit.headers["x-chunk-status"] == "hit"
    key = hit.headers["x-chunk-key"]
    assert key.startswith(track)
    status = (await client.get("/v1/status")).json()
    assert status["hits"]["requests"] >= 2
    assert sum(t["chunks"] for t in status["tiers"].values()) >= 1
    assert status["library"]["tracks"] == 2 and status["library"]["watcher"] == "watching"
    assert status["workers"]["configured"] == 2


async def test_a_chunk_by_full_key_and_unknown_chunks(
    service: Service, client: httpx.AsyncClient
) -> None:
    track = track_names(service)[1]
    url = f"/v1/chunks/{track}/0/bright/5/0"
    with anyio.fail_after(DEADLINE_S):
        while (got := await client.get(url, params={"wait_ms": 20_000})).status_code != 200:
            assert got.status_code == 202
    assert got.content[:4] == b"fLaC"
    missing = await client.get(f"/v1/chunks/{track}/0/bright/5/99")
    assert missing.status_code == 404
    bad = await client.get(f"/v1/chunks/{track}/0/loud/5/0")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "preset"
    nothing_playing = await client.get("/v1/chunks/0", params={"wait_ms": 0})
    assert nothing_playing.status_code == 404
    too_long = await client.get("/v1/chunks/0", params={"wait_ms": 31_000})
    assert too_long.status_code == 422 and too_long.json()["error"]["field"] == "wait_ms"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 422, None),
        (b'{"type": "PresetChanged", "preset": "loud"}', 422, "preset"),
        (b'{"type": "PresetChanged"}', 422, "preset"),
        (b'{"type": "Seeked", "position_ms": "soon"}', 422, "position_ms"),
        (b'{"type": "Seeked", "position_ms": 5, "extra": 1}', 422, "extra"),
        (b'{"type": "Exploded"}', 422, "type"),
        (b'{"position_ms": 5}', 422, "type"),
        (b'{"type": "ChunkRendered"}', 422, "type"),
        (b'{"type": "Paused", "at": "yesterday"}', 422, "at"),
        (b'{"type": "Paused", "id": "not-a-uuid"}', 422, "id"),
    ],
)
async def test_malformed_interactions_are_refused_naming_the_field_and_never_logged(
    service: Service, client: httpx.AsyncClient, body: bytes, status: int, field: str | None
) -> None:
    before = await service.app.log.events.last_seq()
    got = await client.post(
        "/v1/interactions", content=body, headers={"content-type": "application/json"}
    )
    assert got.status_code == status, got.text
    error = got.json()["error"]
    assert error["field"] == field and error["message"]
    assert await service.app.log.events.last_seq() == before


async def test_an_oversized_body_gets_413(service: Service, client: httpx.AsyncClient) -> None:
    before = await service.app.log.events.last_seq()
    huge = b'{"type": "Paused", "pad": "' + b"x" * 70_000 + b'"}'
    got = await client.post("/v1/interactions", content=huge)
    assert got.status_code == 413 and got.json()["error"]["code"] == "too-large"

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 8192

    streamed = await client.post("/v1/interactions", content=chunked())
    assert streamed.status_code == 413
    assert await service.app.log.events.last_seq() == before


async def test_the_log_pages_with_the_filters_of_tierbuffer_log(
    service: Service, client: httpx.AsyncClient
) -> None:
    track = track_names(service)[0]
    await _post(client, {"type": "TrackChanged", "track": track, "at": 1_800_000_000_000})
    for n in range(5):
        await _post(
            client,
            {
                "type": "PositionReported",
                "position_ms": n * 1000,
                "at": 1_800_000_001_000 + n * 1000,
            },
        )
    page = (await client.get("/v1/events", params={"type": "PositionReported", "limit": 3})).json()
    assert [e["payload"]["position_ms"] for e in page["events"]] == [0, 1000, 2000]
    rest = await client.get(
        "/v1/events", params={"type": "PositionReported", "after": page["next_after"]}
    )
    assert [e["payload"]["position_ms"] for e in rest.json()["events"]] == [3000, 4000]
    assert rest.json()["next_after"] is None
    timed = await client.get(
        "/v1/events",
        params={"from": "2027-01-15T08:00:02Z", "to": "1800000003000", "type": "PositionReported"},
    )
    assert [e["occurred_at"] for e in timed.json()["events"]] == [
        1_800_000_002_000,
        1_800_000_003_000,
    ]
    by_track = (await client.get("/v1/events", params={"track": track})).json()["events"]
    assert by_track and all(e["payload"].get("track", track) == track for e in by_track)
    bad = await client.get("/v1/events", params={"type": "Exploded"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "type"
    assert (await client.get("/v1/nowhere")).status_code == 404
    assert (await client.delete("/v1/status")).status_code == 405
