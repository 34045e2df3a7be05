"""Fault runs: each fault of issue 12 injected again and again into a running service under a
player's load, and what came of it.

Usage: python bench/faults.py [-k EXPRESSION] [--keep-report FILE]

Runs the slow fault tests (`tests/adapters/runtime/test_fault_runs.py`, behind the `slow`
marker) in one pytest process; each appends its tally to a report file, which this prints:

    fault                                    injected  survived  acknowledged  refused  lost

- *injected*: how often the fault was brought about (a second connection holding the write lock
  past the busy timeout; a tmpfs filled up under the database or the chunk store; the chunk
  store's tmpfs remounted read-only; an occurred-at in year 9999 or an hour behind; a hostile
  request);
- *survived*: the service answered while it lasted, said what was wrong (`/v1/status`, or a
  JSON 4xx for a hostile request) and recovered by itself once the fault was cleared;
- *acknowledged*: events the load's player got a sequence number for; *refused*: its writes
  answered 503/507 while the log could not be written (refused, so nothing to lose);
- *lost*: acknowledged events missing from the log (or at another sequence number).

A run that needs a tmpfs is not run where mounting is refused (not root): it is listed with the
reason. SIGKILLs are `bench/chaos.py`'s. Exits 1 when a fault was not survived, an acknowledged
event was lost, the service gave an answer that was not JSON, or a test failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = "tests/adapters/runtime/test_fault_runs.py"
REPORT_ENV = "FAULT_RUNS_REPORT"


def run_tests(report: Path, expression: str | None) -> tuple[int, str]:
    """pytest on the fault runs, one process (`-n 0`: the runs load the machine themselves)."""
    command = [sys.executable, "-m", "pytest", RUNS, "-m", "slow", "-n", "0", "-q", "-rs"]
    if expression:
        command += ["-k", expression]
    env = {**os.environ, REPORT_ENV: str(report)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr


def skipped(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("SKIPPED")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="expression", help="only the runs pytest -k selects")
    parser.add_argument("--keep-report", type=Path, help="also copy the JSON-lines tallies here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tierbuffer-faults-") as folder:
        report = Path(folder) / "tallies.jsonl"
        report.touch()
        began = time.monotonic()
        code, output = run_tests(report, args.expression)
        elapsed = time.monotonic() - began
        tallies = [json.loads(line) for line in report.read_text().splitlines() if line]
        if args.keep_report is not None:
            args.keep_report.write_text(report.read_text())

    print(
        f"{'fault':<66} {'injected':>8} {'survived':>8} {'acknowledged':>12} "
        f"{'refused':>7} {'unexpected':>10} {'lost':>5}"
    )
    for t in tallies:
        print(
            f"{t['fault']:<66} {t['injected']:>8} {t['survived']:>8} {t['acknowledged']:>12} "
            f"{t['refused']:>7} {t['unexpected']:>10} {t['lost']:>5}"
        )
        for note in t["notes"]:
            print(f"    {note}")
    for line in skipped(output):
        print(f"not run: {line}")
    injected = sum(t["injected"] for t in tallies)
    survived = sum(t["survived"] for t in tallies)
    lost = sum(t["lost"] for t in tallies)
    unexpected = sum(t["unexpected"] for t in tallies)
    acknowledged = sum(t["acknowledged"] for t in tallies)
    print(
        f"faults injected: {injected}, faults survived: {survived}, acknowledged events: "
        f"{acknowledged}, acknowledged events lost: {lost}, answers not JSON or 5xx: "
        f"{unexpected} ({elapsed:.0f} s)"
    )
    failed = code not in (0, 5) or survived < injected or lost or unexpected or not tallies
    if code not in (0, 5):
        print(output[-4000:], file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
