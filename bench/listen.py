"""End to end: the real service, a listener per profile, over HTTP, beside the simulator.

For each profile: starts `tierbuffer serve --http` on a fresh database and chunk folder (the
library is kept: a generated one in every codec by default, `--library DIR` for real music),
waits until it answers and its workers are up, then plays the profile's listening trace through
the HTTP API exactly as a player would — track changes with the next track queued, preset
switches, seeks, position reports every second, and a chunk request at every chunk boundary and
after every interaction, each request on its own (a slow one never holds up the rest) — at
`--speed` times real time. Then it reads the log and prints, per profile: requests served at
once (a hit), the waits (p50/p99/max), time to first chunk by codec, renders per request, CPU
seconds per listened minute (the service and its workers), and the same trace through the
simulator with costs measured in this run (render time per chunk, worker start) and through the
offline optimum, side by side.

Checks its own work first: every request answered (200, or 202 for a chunk that failed), every
interaction acknowledged; otherwise it says so and prints nothing.

    .venv/bin/python bench/listen.py [--profiles steady,habitual,...] [--minutes 10] [--speed 2]
        [--workers 2] [--library DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.sim.baselines import run_optimum  # noqa: E402
from adapters.sim.simulator import Costs, Figures, run_projection  # noqa: E402
from adapters.sim.trace import PROFILES, Step, Trace, TrackSpec, script  # noqa: E402
from bench._common import percentile  # noqa: E402
from bench._library import make_library  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 120.0


class BenchFailedError(Exception):
    """The run did not do what it should have: no figure is printed."""


@dataclass
class Played:
    """What the player saw."""

    requests: int = 0
    hits: int = 0
    waits: list[float] = field(default_factory=list)  # seconds, of requests that waited
    failed: list[str] = field(default_factory=list)
    first: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)


@dataclass
class Result:
    profile: str
    played: Played
    renders: int
    render_ms: float
    ready_s: float
    workers_s: float
    cpu_s: float
    listened_min: float
    predicted: Figures
    optimum: Figures


class Service:
    """`tierbuffer serve --http` in a subprocess, on a fresh database and chunk folder."""

    def __init__(self, library: Path, folder: Path, workers: int) -> None:
        self.started = time.perf_counter()
        command = [
            sys.executable, "-m", "adapters.cli", "--db", str(folder / "log.db"), "serve",
            "--library", str(library), "--cache-dir", str(folder / "chunks"),
            "--workers", str(workers), "--http", "127.0.0.1:0",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "TIERBUFFER_TOKEN"}
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
        )
        self.port = self._port()
        self.base = f"http://127.0.0.1:{self.port}"

    def _port(self) -> int:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            found = re.search(r"HTTP API on 127\.0\.0\.1:(\d+)", line)
            if found:
                return int(found.group(1))
        raise BenchFailedError(f"the service never listened (exit {self.process.wait()})")

    def cpu_s(self) -> float:
        root = psutil.Process(self.process.pid)
        total = sum(root.cpu_times()[:2])
        for child in root.children(recursive=True):
            try:
                total += sum(child.cpu_times()[:2])
            except psutil.NoSuchProcess:
                continue
        return total

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def _ready(client: httpx.AsyncClient, service: Service, workers: int) -> tuple[float, float]:
    """Seconds from start until it answers, and until the library is scanned and the workers
    are all up."""
    answered = None
    with anyio.fail_after(READY_TIMEOUT_S):
        while True:
            try:
                status = (await client.get("/v1/status")).json()
            except httpx.TransportError:
                await anyio.sleep(0.02)
                continue
            now = time.perf_counter() - service.started
            answered = answered if answered is not None else now
            library = status["library"]
            if status["workers"]["alive"] == workers and library["watcher"] == "watching":
                return answered, now
            await anyio.sleep(0.05)


async def _tracks(client: httpx.AsyncClient) -> tuple[TrackSpec, ...]:
    listed = (await client.get("/v1/tracks")).json()["tracks"]
    return tuple(TrackSpec(t["track"], t["duration_ms"], 44_100, 2) for t in listed)


class Player:
    def __init__(self, client: httpx.AsyncClient, trace: Trace, paths: dict[str, str]) -> None:
        self.client, self.trace, self.paths = client, trace, paths
        self.played = Played()
        self.order = [spec.track for spec in trace.library]
        self.revisions: dict[str, int] = {}
        self.seen: set[str] = set()

    async def post(self, body: dict[str, object]) -> None:
        answer = await self.client.post("/v1/interactions", json=body)
        if answer.status_code != 200:
            self.played.errors.append(f"{body['type']}: {answer.status_code} {answer.text[:120]}")

    async def request(self, step: Step) -> None:
        played = self.played
        revision = self.revisions.get(step.track, 0)
        url = f"/v1/chunks/{step.track}/{revision}/{step.preset}/5/{step.index}?wait_ms=30000"
        began = time.perf_counter()
        answer = await self.client.get(url)
        took = time.perf_counter() - began
        played.requests += 1
        first = step.track not in self.seen
        self.seen.add(step.track)
        if answer.status_code == 200:
            if answer.headers["X-Chunk-Status"] == "hit":
                played.hits += 1
            else:
                played.waits.append(took)
            if first:
                played.first[Path(self.paths[step.track]).suffix].append(took)
        elif answer.status_code in (202, 410):
            played.failed.append(answer.json().get("detail", answer.text[:80]))
        else:
            played.errors.append(f"chunk {url}: {answer.status_code} {answer.text[:120]}")

    async def step(self, step: Step, tg: anyio.abc.TaskGroup) -> None:
        if step.kind == "track":
            await self.post({"type": "TrackChanged", "track": step.track, "position_ms": 0})
            following = self.order[(self.order.index(step.track) + 1) % len(self.order)]
            await self.post({"type": "NextTrackQueued", "track": following})
        elif step.kind == "preset":
            await self.post({"type": "PresetChanged", "preset": step.preset})
        elif step.kind == "seek":
            await self.post({"type": "Seeked", "position_ms": step.position_ms})
        elif step.kind == "position":
            await self.post({"type": "PositionReported", "position_ms": step.position_ms})
        else:
            tg.start_soon(self.request, step)

    async def play(self, speed: float) -> Played:
        began = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for step in self.trace.steps:
                delay = began + step.at / 1000 / speed - time.perf_counter()
                if delay > 0:
                    await anyio.sleep(delay)
                await self.step(step, tg)
        return self.played


async def _log(client: httpx.AsyncClient) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    after = 0
    while True:
        page = (await client.get("/v1/events", params={"after": after, "limit": 1000})).json()
        entries.extend(page["events"])
        if page["next_after"] is None:
            return entries
        after = page["next_after"]


async def one_profile(args: argparse.Namespace, library: Path, profile: str) -> Result:
    with tempfile.TemporaryDirectory(prefix="tierbuffer-listen-") as folder:
        service = Service(library, Path(folder), args.workers)
        try:
            async with httpx.AsyncClient(base_url=service.base, timeout=60) as client:
                ready_s, workers_s = await _ready(client, service, args.workers)
                tracks = await _tracks(client)
                if not tracks:
                    raise BenchFailedError(f"no readable track in {library}")
                paths = {
                    t["track"]: t["path"] for t in (await client.get("/v1/tracks")).json()["tracks"]
                }
                trace = script(profile, args.seed, args.minutes, tracks)
                cpu_before = service.cpu_s()
                played = await Player(client, trace, paths).play(args.speed)
                cpu = service.cpu_s() - cpu_before
                log = await _log(client)
        finally:
            service.stop()
    if played.errors:
        raise BenchFailedError(
            f"{profile}: {len(played.errors)} requests failed: {played.errors[:3]}"
        )
    rendered = [e for e in log if e["type"] == "ChunkRendered"]
    requested = sum(1 for e in log if e["type"] == "ChunkRequested")
    if requested != played.requests:
        raise BenchFailedError(f"{profile}: {played.requests} requests, {requested} in the log")
    render_ms = statistics.median(e["payload"]["render_ms"] for e in rendered) if rendered else 0.0
    costs = Costs(args.workers, max(1, round(render_ms)), start_ms=round(workers_s * 1000))
    predicted = run_projection(trace, costs, speed=args.speed).figures
    optimum = run_optimum(trace, costs.render_ms)
    listened = trace.end_ms / 60_000
    return Result(
        profile, played, len(rendered), render_ms, ready_s, workers_s, cpu, listened, predicted,
        optimum,
    )  # fmt: skip


def _row(r: Result) -> str:
    p = r.played
    served = p.hits / p.requests if p.requests else 0.0
    waits = sorted(p.waits)
    p50 = percentile(waits, 50) if waits else 0.0
    p99 = percentile(waits, 99) if waits else 0.0
    most = waits[-1] if waits else 0.0
    per_request = r.renders / p.requests if p.requests else 0.0
    best = r.optimum.renders_per_request
    first = " ".join(f"{ext[1:]} {max(times):.2f}" for ext, times in sorted(p.first.items()))
    return (
        f"{r.profile:9} {p.requests:5d} {served:7.1%} {r.predicted.served:7.1%} "
        f"{served / r.predicted.served if r.predicted.served else 0:5.2f} "
        f"{p50:6.2f} {p99:6.2f} {most:6.2f} {len(p.failed):4d} "
        f"{per_request:5.2f} {best:5.2f} {per_request / best if best else 0:5.2f} "
        f"{r.cpu_s / r.listened_min:6.1f} {r.render_ms:6.0f}  {first}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", default=",".join(PROFILES))
    parser.add_argument("--minutes", type=int, default=10, help="of listening per profile")
    parser.add_argument("--speed", type=float, default=2.0, help="times real time")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--library", type=Path, default=None, help="default: a generated one")
    args = parser.parse_args()
    library = args.library or make_library(10)
    load_before = os.getloadavg()
    results = []
    for profile in args.profiles.split(","):
        try:
            results.append(anyio.run(one_profile, args, library, profile))
        except BenchFailedError as e:
            sys.exit(f"bench/listen.py: {e}")
        print(f"{profile}: done", file=sys.stderr)
    load_after = os.getloadavg()
    print(
        f"{args.minutes} min per profile at {args.speed:g}x, {args.workers} workers, library "
        f"{library}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(
        f"{'profile':9} {'req':>5} {'served':>7} {'sim':>7} {'ratio':>5} {'p50 s':>6} "
        f"{'p99 s':>6} {'max s':>6} {'fail':>4} {'r/req':>5} {'opt':>5} {'x opt':>5} "
        f"{'cpu/min':>6} {'ms/chunk':>6}  first chunk (max s) by codec"
    )
    for result in results:
        print(_row(result))
    ready = [r.ready_s for r in results]
    print(
        f"HTTP ready after {min(ready):.2f}-{max(ready):.2f} s; library scanned and workers up "
        f"after {min(r.workers_s for r in results):.2f}-{max(r.workers_s for r in results):.2f} s"
    )
    print(json.dumps({"load": [load_before[0], load_after[0]]}), file=sys.stderr)


if __name__ == "__main__":
    main()
