"""Chaos: SIGKILL the service at random moments, restart it, and check that nothing was lost.

Usage: python bench/chaos.py [--kills N] [--seed S] [--min-run S] [--max-run S] [--keep DIR]

Each round starts the service in a child process (`--child`), which plays a scripted workload
through the Player interface: interactions arriving at 50/s (the position feed, with a preset
switch every 5 s, a seek every 10 s and a track change every 20 s on average) and a chunk request
every half second, while renders are in flight. After every acknowledged
append the child writes the event id to a journal file. The parent SIGKILLs the child at a random
moment, then checks:
  - every event acknowledged before the kill is in the log;
  - the hash chain and the snapshots verify (`verify`);
and, in the next round, the restarted child reports:
  - the state it recovered (snapshot + tail) equals a fresh replay of the log;
  - no temporary or orphaned chunk files remain after its start-up reconciliation;
  - no chunk it served failed its checksum; and work resumes (it renders again).
Prints `kills survived: K/N, acknowledged events lost: L` and exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters import bootstrap  # noqa: E402
from adapters.bootstrap import open_log  # noqa: E402
from adapters.demo.library import SHORT_TRACKS, make_demo_library  # noqa: E402
from adapters.runtime.scheduler import SchedulerConfig  # noqa: E402
from adapters.runtime.service import Service, ServiceConfig  # noqa: E402
from domain.events import (  # noqa: E402
    PRESETS,
    PositionReported,
    PresetChanged,
    Seeked,
    TrackChanged,
)
from domain.projection import fold  # noqa: E402
from domain.state import state_hash  # noqa: E402
from storage.chunks import TEMP_SUFFIX  # noqa: E402
from storage.projector import verify  # noqa: E402
from storage.sqlite_rows import id_text  # noqa: E402

RATE_PER_S = 50


# --- the child: the service plus a workload -------------------------------------------------


def _config(folder: Path) -> ServiceConfig:
    return ServiceConfig(
        db=folder / "chaos.db",
        library=folder / "library",
        cache_dir=folder / "chunks",
        scheduler=SchedulerConfig(workers=2),
        snapshot_every=500,
        monitor_memory=False,
    )


async def _recovery_report(service: Service) -> dict[str, object]:
    """Checked at once after start-up: recovered state, leftover files."""
    app = service.app
    state = await app.catch_up()
    seq = state.seq

    def fresh() -> str:
        upto = itertools.takewhile(lambda r: r.seq <= seq, app.log.events.iter_recorded())
        return state_hash(fold(upto))

    replayed = await anyio.to_thread.run_sync(fresh)
    recorded: set[str] = set()
    async for r in app.log.events.read(types={"ChunkRendered"}):
        recorded.add(r.event.path)  # type: ignore[union-attr]
    running = {service.chunks.path_of(k) for k in service.scheduler.running}
    root = service.chunks.root
    orphans = [f for f in service.chunks.files() if f not in recorded and root / f not in running]
    temps = [
        p
        for p in root.glob("*/*/r*/.*" + TEMP_SUFFIX)
        if p.with_name(p.name[1:].rsplit(".", 2)[0]) not in running
    ]
    return {
        "seq": seq,
        "recovered_equals_replay": replayed == state_hash(state),
        "orphans": len(orphans),
        "temp_files": len(temps),
        "reconciled": {
            "partials": service.reconciled.partials,
            "orphans": service.reconciled.orphans,
            "lost": service.reconciled.lost,
            "released": service.reconciled.released,
        },
    }


async def _workload(service: Service, journal: Path, seed: int) -> None:
    rng = random.Random(seed)
    player = service.player
    tracks = sorted((await service.scanned()).tracks)
    track = rng.choice(tracks)
    position = 0
    with journal.open("a", buffering=1) as acks:
        await player.interact(TrackChanged(track=track))
        for n in itertools.count():
            await anyio.sleep(1 / RATE_PER_S)
            roll = rng.random()
            if roll < 0.001:  # at 50/s: a track change every 20 s, a preset switch every
                track, position = rng.choice(tracks), 0  # 5 s, a seek every 10 s
                event = TrackChanged(track=track)
            elif roll < 0.005:
                event = PresetChanged(preset=rng.choice(PRESETS))
            elif roll < 0.007:
                position = rng.randrange(0, 60_000)
                event = Seeked(position_ms=position)
            else:
                position += 1000
                event = PositionReported(position_ms=position % 60_000)
            event_id = service.app.new_id()
            await player.interact(event, event_id=event_id)
            acks.write(event_id + "\n")
            if n % 25 == 0:
                result = await player.chunk((position % 60_000) // 30_000, wait_s=0.5)
                if result.data is not None:
                    ok = "sha256:" + hashlib.sha256(result.data).hexdigest() == result.checksum
                    acks.write(("#served-ok" if ok else "#served-BAD") + "\n")


async def child(folder: Path, seed: int) -> None:
    async with bootstrap.service(_config(folder)) as service:
        report = await _recovery_report(service)
        print("READY " + json.dumps(report), flush=True)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_workload, service, folder / "journal.txt", seed)
            with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                async for _ in signals:
                    break
            tg.cancel_scope.cancel()


# --- the parent: kill, restart, check ----------------------------------------------------------


def _start(folder: Path, seed: int) -> tuple[subprocess.Popen[str], dict[str, object]]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(folder), "--seed", str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if line.startswith("READY "):
            return proc, json.loads(line[6:])
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit(f"FAILED: the service did not start (exit {proc.wait()})")


def _acknowledged(journal: Path) -> tuple[set[str], int]:
    if not journal.exists():
        return set(), 0
    lines = journal.read_text().splitlines()
    ids = {line for line in lines if line and not line.startswith("#")}
    bad = sum(1 for line in lines if line == "#served-BAD")
    return ids, bad


def _in_log(db: Path) -> set[str]:
    connection = sqlite3.connect(db)
    try:
        return {id_text(row[0]) for row in connection.execute("SELECT event_id FROM events")}
    finally:
        connection.close()


async def _verify(db: Path) -> bool:
    async with open_log(db, create=False, migrate=False) as log:
        return (await verify(log.events, log.snapshots)).ok


def _renders_after(db: Path, seq: int, *, within_s: float) -> bool:
    """Whether the restarted service renders a chunk (work resumes) within `within_s`."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        connection = sqlite3.connect(db)
        try:
            query = (
                "SELECT COUNT(*) FROM events JOIN event_types ON code = type_code "
                "WHERE name = 'ChunkRendered' AND seq > ?"
            )
            if connection.execute(query, (seq,)).fetchone()[0]:
                return True
        finally:
            connection.close()
        time.sleep(0.2)
    return False


def _check_recovery(report: dict[str, object]) -> list[str]:
    problems = []
    if not report["recovered_equals_replay"]:
        problems.append("recovered state differs from a fresh replay")
    if report["orphans"]:
        problems.append(f"{report['orphans']} orphaned chunk files after start-up")
    if report["temp_files"]:
        problems.append(f"{report['temp_files']} temporary files after start-up")
    return problems


def parent(args: argparse.Namespace, folder: Path) -> int:
    rng = random.Random(args.seed)
    library = args.library or folder / "library"
    if args.library is None:
        make_demo_library(library, tracks=SHORT_TRACKS)
    elif not (folder / "library").exists():
        (folder / "library").symlink_to(library.resolve())
    survived, lost_total, bad_served = 0, 0, 0
    proc, report = _start(folder, rng.randrange(1 << 30))
    for kill in range(1, args.kills + 1):
        time.sleep(rng.uniform(args.min_run, args.max_run))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        acked, bad = _acknowledged(folder / "journal.txt")
        lost = len(acked - _in_log(folder / "chaos.db"))
        sound = anyio.run(_verify, folder / "chaos.db", backend="asyncio")
        proc, report = _start(folder, rng.randrange(1 << 30))
        problems = _check_recovery(report)
        if lost:
            problems.append(f"{lost} acknowledged events lost")
        if not sound:
            problems.append("verify failed")
        lost_total, bad_served = lost_total + lost, bad
        if not problems:
            survived += 1
        print(
            f"kill {kill:>3}: {len(acked):>6} acknowledged, lost {lost}, verify "
            f"{'ok' if sound else 'FAILED'}, recovered at seq {report['seq']} "
            f"reconciled {report['reconciled']}" + (f"  PROBLEMS: {problems}" if problems else ""),
            flush=True,
        )
    resumed = _renders_after(folder / "chaos.db", int(str(report["seq"])), within_s=60)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    if bad_served:
        print(f"FAILED: {bad_served} chunks served with a bad checksum")
    if not resumed:
        print("FAILED: no chunk was rendered after the last restart (work did not resume)")
    print(f"kills survived: {survived}/{args.kills}, acknowledged events lost: {lost_total}")
    ok = survived == args.kills and lost_total == 0 and not bad_served and resumed
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-run", type=float, default=1.0, help="seconds before a kill, least")
    parser.add_argument("--max-run", type=float, default=4.0, help="seconds before a kill, most")
    parser.add_argument("--library", type=Path, help="library to use (default: generated)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        anyio.run(child, args.child, args.seed, backend="asyncio")
        return 0
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        return parent(args, args.keep)
    with tempfile.TemporaryDirectory() as tmp:
        return parent(args, Path(tmp))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
