"""HTTP API over loopback: requests/s and p99 latency of interaction posts and chunk hits.

Starts the real service (its HTTP API on 127.0.0.1, an ephemeral port) on a small generated
library, renders chunk 0 of a track once, then drives `CLIENTS` concurrent keep-alive clients:
(a) POST /v1/interactions (position reports, each with its own Idempotency-Key) and (b) GET of the
chunk now held (a hit). Before printing, it checks every response succeeded, every acknowledged
interaction is in the log exactly once, and every hit returned the checksummed FLAC.

    .venv/bin/python bench/api.py [--requests N] [--clients C]
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
import numpy as np
import soundfile as sf  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters import bootstrap  # noqa: E402
from adapters.http.config import HttpConfig  # noqa: E402
from adapters.runtime.scheduler import SchedulerConfig  # noqa: E402
from adapters.runtime.service import ServiceConfig  # noqa: E402
from bench._common import percentile  # noqa: E402


def _library(root: Path) -> None:
    root.mkdir(parents=True)
    t = np.arange(16_000 * 65) / 16_000
    tone = 0.2 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.3 * np.sin(t))
    sf.write(str(root / "bench.flac"), tone.astype(np.float32), 16_000)


async def _drive(
    client: httpx.AsyncClient, clients: int, total: int, request: object
) -> tuple[float, list[float], list[httpx.Response]]:
    latencies: list[float] = []
    responses: list[httpx.Response] = []
    counter = iter(range(total))

    async def worker() -> None:
        for n in counter:
            began = time.perf_counter()
            response = await request(client, n)  # type: ignore[operator]
            latencies.append(time.perf_counter() - began)
            responses.append(response)

    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(clients):
            tg.start_soon(worker)
    return time.perf_counter() - began, latencies, responses


async def run(requests: int, clients: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _library(root / "library")
        config = ServiceConfig(
            db=root / "bench.db",
            library=root / "library",
            cache_dir=root / "chunks",
            scheduler=SchedulerConfig(workers=2),
            monitor_memory=False,
        )
        async with bootstrap.service(config, http=HttpConfig(port=0)) as service:
            base = f"http://127.0.0.1:{service.http_port}"
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            # TCP_NODELAY: httpx writes a POST's headers and body separately; with Nagle on,
            # the body waits for the server's delayed ACK (40 ms) and that is all one measures.
            nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
            transport = httpx.AsyncHTTPTransport(limits=limits, socket_options=nodelay)
            async with httpx.AsyncClient(base_url=base, timeout=60, transport=transport) as client:
                await _report(service, client, requests, clients)


async def _report(service, client: httpx.AsyncClient, requests: int, clients: int) -> None:  # type: ignore[no-untyped-def]
    track = sorted((await service.scanned()).tracks)[0]
    answer = await client.post("/v1/interactions", json={"type": "TrackChanged", "track": track})
    assert answer.status_code == 200, answer.text
    with anyio.fail_after(120):
        while (first := await client.get("/v1/chunks/0?wait_ms=20000")).status_code != 200:
            assert first.status_code == 202, first.text
    checksum = first.headers["x-chunk-checksum"]
    before = await service.app.log.events.last_seq()

    async def post(c: httpx.AsyncClient, n: int) -> httpx.Response:
        body = {"type": "PositionReported", "position_ms": 1000 + n}
        return await c.post("/v1/interactions", json=body, headers={"Idempotency-Key": f"b-{n}"})

    async def hit(c: httpx.AsyncClient, n: int) -> httpx.Response:
        return await c.get("/v1/chunks/0?wait_ms=0")

    for name, request in (("interaction posts", post), ("chunk hits", hit)):
        elapsed, latencies, responses = await _drive(client, clients, requests, request)
        bad = [r for r in responses if r.status_code != 200]
        assert not bad, f"{len(bad)} of {len(responses)} {name} failed: {bad[0].text[:200]}"
        if request is post:
            seqs = {r.json()["seq"] for r in responses}
            assert len(seqs) == requests, "an interaction was acknowledged twice"
            logged = [
                r
                async for r in service.app.log.events.read_rows(
                    after=before, types={"PositionReported"}
                )
            ]
            assert len(logged) == requests, f"{len(logged)} of {requests} posts in the log"
        else:
            for r in responses:
                assert r.headers["x-chunk-status"] == "hit"
                assert "sha256:" + hashlib.sha256(r.content).hexdigest() == checksum
            size = len(responses[0].content) / 1e6
            name = f"chunk hits ({size:.2f} MB FLAC each)"
        rate = requests / elapsed
        p50 = percentile(latencies, 50) * 1000
        p99 = percentile(latencies, 99) * 1000
        print(
            f"{name}: {requests} over {clients} clients, {rate:,.0f} requests/s, "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (all succeeded)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    anyio.run(run, args.requests, args.clients, backend="asyncio")


if __name__ == "__main__":
    main()
