"""Interactions against the running service: acknowledgement latency and memory over time.

Usage: python bench/interactions.py [--rate 1000] [--seconds 60] [--keep DIR]

Starts the service (worker processes rendering what the plan asks) on a generated library and
sends interactions at `rate` per second for `seconds`, through the Player interface (what the
HTTP API wraps), from 10 paced senders: position reports, with a preset switch, seek or track
change now and then. Prints p50/p99 acknowledgement latency, and the service process's resident
memory after a warm-up and at the end (target: p99 < 10 ms, growth under 10 %). The run checks
that every interaction was acknowledged and folded before printing.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import anyio
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters import bootstrap  # noqa: E402
from adapters.demo.library import SHORT_TRACKS, make_demo_library  # noqa: E402
from adapters.runtime.scheduler import SchedulerConfig  # noqa: E402
from adapters.runtime.service import ServiceConfig  # noqa: E402
from bench._common import percentile  # noqa: E402
from domain.events import (  # noqa: E402
    PRESETS,
    DomainEvent,
    PositionReported,
    PresetChanged,
    Seeked,
    TrackChanged,
)

SENDERS = 10


def _event(rng: random.Random, tracks: list[str], position_ms: int) -> DomainEvent:
    """Mostly the player's position feed; about once a second a preset switch, rarer seeks."""
    roll = rng.random()
    if roll < 0.0002:
        return TrackChanged(track=rng.choice(tracks))
    if roll < 0.0012:
        return PresetChanged(preset=rng.choice(PRESETS))
    if roll < 0.0015:
        return Seeked(position_ms=rng.randrange(0, 60_000))
    return PositionReported(position_ms=position_ms)


async def run(folder: Path, rate: int, seconds: float) -> None:
    library = folder / "library"
    make_demo_library(library, tracks=SHORT_TRACKS)
    config = ServiceConfig(
        db=folder / "interactions.db",
        library=library,
        cache_dir=folder / "chunks",
        scheduler=SchedulerConfig(workers=1),
        monitor_memory=False,
    )
    process = psutil.Process()
    latencies: list[float] = []
    async with bootstrap.service(config) as service:
        tracks = sorted((await service.scanned()).tracks)
        await service.player.interact(TrackChanged(track=tracks[0]))
        start_seq = service.app.state.seq

        async def sender(k: int, count: int, begin: float) -> None:
            rng = random.Random(k)
            interval = SENDERS / rate
            for i in range(count):
                due = begin + (i + k / SENDERS) * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await anyio.sleep(delay)
                t0 = time.perf_counter()
                position = int((time.perf_counter() - begin) * 1000) % 60_000
                await service.player.interact(_event(rng, tracks, position))
                latencies.append(time.perf_counter() - t0)

        warmup = min(5.0, seconds / 4)
        per_sender = int(rate * seconds / SENDERS)
        rss_start = 0
        begin = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for k in range(SENDERS):
                tg.start_soon(sender, k, per_sender, begin)
            await anyio.sleep(warmup)
            rss_start = process.memory_info().rss
        elapsed = time.perf_counter() - begin
        rss_end = process.memory_info().rss
        total = per_sender * SENDERS
        with anyio.fail_after(30):
            state = await service.app.until(lambda s: s.seq >= start_seq + total)
        rendered = service.scheduler.outcomes.rendered
    if len(latencies) != total:
        raise SystemExit(f"FAILED: {len(latencies)} of {total} interactions acknowledged")
    late = [x for x in latencies[int(warmup * rate) :]]
    print(f"interactions acknowledged: {total} in {elapsed:.1f} s ({total / elapsed:,.0f}/s)")
    print(f"folded up to sequence {state.seq}; chunks rendered meanwhile: {rendered}")
    p50, p99 = percentile(late, 50) * 1000, percentile(late, 99) * 1000
    print(
        f"acknowledgement latency after warm-up: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
        "(target p99 < 10 ms)"
    )
    growth = (rss_end - rss_start) / rss_start
    print(
        f"resident memory: {rss_start / 1e6:.1f} MB after warm-up, {rss_end / 1e6:.1f} MB at the "
        f"end ({growth:+.1%}; target under +10 %)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        anyio.run(run, args.keep, args.rate, args.seconds, backend="asyncio")
        return
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(run, Path(tmp), args.rate, args.seconds, backend="asyncio")


if __name__ == "__main__":
    main()
