"""Processes appending to one log at the same time, for a while: nothing acknowledged is lost, the
sequence numbers stay contiguous, the hash chain verifies.

Usage: python bench/pg_stress.py [--db URL] [--seconds S] [--processes P] [--tasks T]

`--db` takes a postgresql:// URL (the database must exist; the log goes into a fresh schema
`stress` of it) or an SQLite file path (which must not exist yet). Without it, a PostgreSQL of
the machine's packaged binaries is started in a temporary folder with fsync on
(tests/support/pgserver.py) and stopped afterwards.

The log is migrated first. Then P processes (default 2) open it, say they are ready, and wait;
once all are, they are released together and each runs T tasks (default 4) appending batches of
1 to 5 events, one batch after the other, until S seconds (default 60) have passed. Each prints
every acknowledged batch: its sequence numbers and event ids. The parent then reads the whole
log back and checks that:
  - every acknowledged event is stored at the sequence number it was acknowledged with, and
    each batch's numbers are contiguous;
  - the log holds exactly the acknowledged events, numbered 1..N without a gap;
  - the hash chain verifies from the first row to the last;
  - the processes' commits interleaved (they really appended side by side).
It prints events per process, events/s, how often consecutive commits came from different
processes, the load average before and after, and `acknowledged events lost: L`; it exits 1 on
any failure. `pytest -m slow tests/storage/test_contract.py` runs it for 60 s on both backends.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.bootstrap import open_log  # noqa: E402
from bench._common import load, new_event  # noqa: E402
from storage.chain import first_break  # noqa: E402
from storage.errors import InvalidLocationError  # noqa: E402
from storage.location import Location, PgUrl, location  # noqa: E402

#: How long a process may take past the deadline to finish its last appends and report.
GRACE_S = 60.0


# --- one appending process ----------------------------------------------------------------------


async def child(where: Location, seconds: float, tasks: int) -> None:
    """Open the log, say ready, wait for the go, append until the deadline, print every
    acknowledged batch as JSON."""
    acknowledged: list[tuple[list[int], list[str]]] = []
    async with open_log(where, create=False, migrate=False) as log:
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        deadline = time.monotonic() + seconds

        async def appender(task: int) -> None:
            i = task
            while time.monotonic() < deadline:
                events = [new_event(i * 5 + k) for k in range(1 + i % 5)]
                seqs = await log.events.append(events)
                acknowledged.append((seqs, [e.event_id for e in events]))
                i += tasks

        async with anyio.create_task_group() as tg:
            for task in range(tasks):
                tg.start_soon(appender, task)
    print(json.dumps(acknowledged), flush=True)


# --- the parent -----------------------------------------------------------------------------------


def run_children(target: str, processes: int, seconds: float, tasks: int) -> list[Any]:
    """Start the processes, release them together, return each one's acknowledged batches."""
    command = [sys.executable, __file__, "--child", "--db", target]
    command += ["--seconds", str(seconds), "--tasks", str(tasks)]
    procs = [
        subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        for proc in procs:  # every process has opened the log ...
            assert proc.stdout is not None and proc.stdin is not None
            said = proc.stdout.readline().strip()
            if said != "ready":
                _, err = proc.communicate(timeout=GRACE_S)
                raise SystemExit(f"FAILED: an appender did not start: {said}{err}")
        for proc in procs:  # ... before any starts appending
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=seconds + GRACE_S) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        if proc.returncode != 0:
            raise SystemExit(f"FAILED: an appender exited with {proc.returncode}: {err}")
    return [json.loads(out) for out, _ in outputs]


def check(rows: list[Any], per_process: list[Any]) -> tuple[list[str], int, int]:
    """Failures (empty: none), events lost, and how often consecutive commits came from
    different processes."""
    failures = []
    by_seq = {row.seq: row.event_id for row in rows}
    lost, owner = 0, {}
    for p, batches in enumerate(per_process):
        for seqs, ids in batches:
            if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
                failures.append(f"process {p}: a batch got non-contiguous seqs {seqs}")
            for seq, event_id in zip(seqs, ids, strict=True):
                if by_seq.get(seq) != event_id:
                    lost += 1
                owner[seq] = p
    acknowledged = sum(len(ids) for batches in per_process for _, ids in batches)
    if [row.seq for row in rows] != list(range(1, len(rows) + 1)):
        failures.append("the log's sequence numbers have a gap")
    if len(rows) != acknowledged:
        failures.append(f"{acknowledged} events acknowledged, {len(rows)} in the log")
    broken = first_break(rows)
    if broken is not None:
        failures.append(f"the hash chain breaks at {broken.seq}: {broken.reason}")
    switches = sum(1 for s in range(2, len(rows) + 1) if owner.get(s) != owner.get(s - 1))
    if len(per_process) > 1 and switches == 0:
        failures.append("the processes never appended side by side")
    if lost:
        failures.append(f"{lost} acknowledged events are not in the log where acknowledged")
    return failures, lost, switches


async def stress(where: Location, args: argparse.Namespace) -> int:
    async with open_log(where, create=True, migrate=True):
        pass  # migrated before the race
    target = where.url if isinstance(where, PgUrl) else str(where)
    print(f"load average before: {load()}", flush=True)
    started = time.perf_counter()
    per_process = await anyio.to_thread.run_sync(
        run_children, target, args.processes, args.seconds, args.tasks
    )
    elapsed = time.perf_counter() - started
    print(f"load average after: {load()}", flush=True)
    async with open_log(where, create=False, migrate=False) as log:
        rows = await anyio.to_thread.run_sync(lambda: list(log.events.iter_rows()))
    failures, lost, switches = check(rows, per_process)
    counts = [sum(len(ids) for _, ids in batches) for batches in per_process]
    print(f"{args.processes} processes x {args.tasks} tasks for {args.seconds:g} s on {where}")
    for p, count in enumerate(counts):
        print(f"  process {p}: {count:,} events in {len(per_process[p]):,} appends")
    rate = sum(counts) / args.seconds
    print(f"  {sum(counts):,} events, {rate:,.0f} events/s ({elapsed:.1f} s with start-up)")
    print(f"  commits changing hands between processes: {switches:,}")
    print(f"acknowledged events: {sum(counts)}, in the log: {len(rows)}, lost: {lost}")
    print(f"acknowledged events lost: {lost}")
    for failure in failures:
        print(f"FAILED: {failure}")
    if not failures:
        print("chain verifies: yes")
    return 1 if failures else 0


def fresh_schema(base: PgUrl) -> PgUrl:
    from bench._pg import fresh_schema as make

    return make(base, "stress")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="a postgresql:// URL or a new SQLite file")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=4, help="appending tasks per process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seconds <= 0 or args.processes < 1 or args.tasks < 1:
        raise SystemExit("--seconds must be > 0, --processes and --tasks >= 1")
    try:
        given = None if args.db is None else location(args.db)
    except InvalidLocationError as e:
        raise SystemExit(str(e)) from e
    if args.child:
        if given is None:
            raise SystemExit("--child needs --db")
        await child(given, args.seconds, args.tasks)
        return
    if given is not None:
        where = given
        if isinstance(where, PgUrl):
            where = fresh_schema(where)
        elif where.exists():
            raise SystemExit(f"{where} exists: give a new file, the run starts from an empty log")
        raise SystemExit(await stress(where, args))
    from tests.support.pgserver import PgServer

    with tempfile.TemporaryDirectory() as tmp:
        server = PgServer(folder=Path(tmp), fsync=True).start()
        try:
            code = await stress(fresh_schema(PgUrl(server.url())), args)
        finally:
            server.stop()
    raise SystemExit(code)


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
