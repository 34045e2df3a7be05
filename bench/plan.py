"""Speed of the fold with planning on: events/s and p99 time to apply one event.

Folds the event logs the simulator produced (all profiles; mostly position reports, with chunk
requests, worker outcomes, interactions), checks the fold reproduces the simulator's final state,
then times it.

    .venv/bin/python bench/plan.py [--minutes 60]
"""

from __future__ import annotations

import argparse
import sys
import time

from adapters.sim.simulator import run_projection
from adapters.sim.trace import PROFILES, script
from domain.projection import evolve, fold
from domain.state import State, state_hash

TARGET = 100_000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    logs = []
    for profile in PROFILES:
        run = run_projection(script(profile, 7, args.minutes))
        if run.figures.requests == 0 or state_hash(fold(run.events)) != state_hash(run.state):
            sys.exit(f"{profile}: replay does not reproduce the simulated state: not reporting")
        logs.append(run.events)
    total = sum(len(log) for log in logs)
    start = time.perf_counter()
    for log in logs:
        fold(log)
    elapsed = time.perf_counter() - start
    samples: list[float] = []
    for log in logs:
        state = State()
        for recorded in log:
            t0 = time.perf_counter_ns()
            state = evolve(state, recorded)
            samples.append((time.perf_counter_ns() - t0) / 1_000)
    rate = total / elapsed
    print(f"events folded:        {total}")
    verdict = "met" if rate >= TARGET else "MISSED"
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    print(f"events/s (planning):  {rate:,.0f}  (target ≥ {TARGET:,}: {verdict})")
    print(f"p50 / p99 / max µs:   {p50:.1f} / {p99:.1f} / {max(samples):.1f}")


if __name__ == "__main__":
    main()
