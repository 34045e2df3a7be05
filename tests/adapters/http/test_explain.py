"""`GET /v1/explain/...`: the same story as `tierbuffer explain`, from the service's own log."""

from __future__ import annotations

import anyio
import httpx
import pytest

from adapters.runtime.service import Service
from tests.adapters.http.conftest import DEADLINE_S, track_names

pytestmark = pytest.mark.anyio


async def test_a_served_chunk_is_explained_by_index_and_by_key(
    service: Service, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/v1/explain/0")).status_code == 404  # nothing plays yet
    track = track_names(service)[0]
    played = await client.post("/v1/interactions", json={"type": "TrackChanged", "track": track})
    assert played.status_code == 200
    with anyio.fail_after(DEADLINE_S):
        while (await client.get("/v1/chunks/0", params={"wait_ms": 20_000})).status_code != 200:
            pass
    explained = (await client.get("/v1/explain/0")).json()
    key = explained["key"]
    assert (key["track"], key["index"]) == (track, 0)
    types = [s["type"] for s in explained["steps"]]
    assert "ChunkRendered" in types and "ChunkRequested" in types
    assert explained["now"]["held"] is not None
    assert explained["summary"].startswith("ready in ")
    path = f"/v1/explain/{track}/{key['revision']}/{key['preset']}/{key['intensity_tenths']}/0"
    by_key = (await client.get(path)).json()
    assert by_key["steps"] == explained["steps"]
    after = by_key["steps"][-1]["seq"]
    assert (await client.get(path, params={"after": after})).json()["steps"] == []


async def test_bad_chunks_are_json_errors(service: Service, client: httpx.AsyncClient) -> None:
    bad = await client.get("/v1/explain/t/0/loud/5/0")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "preset"
    huge = await client.get(f"/v1/explain/{2**70}")
    assert huge.status_code == 422 and huge.json()["error"]["field"] == "index"
    after = await client.get("/v1/explain/0", params={"after": "-1"})
    assert after.status_code == 422
