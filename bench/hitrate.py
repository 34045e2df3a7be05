"""Hit rates and render cost of the planner on simulated listening traces, beside two baselines.

Per profile, at the default budgets (18/36/45 MB) and the service's costs (`Costs`: two workers,
400 ms per chunk, the workers' start, a track's level, the background analysis): share of
requests served without waiting, hits per tier, predictor accuracy, renders per request, for our
policy, read-ahead of the current preset only, and the offline (Belady-style) optimum; and our
figures as ratios of the optimum's. `bench/listen.py` measures the running service the same way.

    .venv/bin/python bench/hitrate.py [--seeds 5] [--minutes 30]
"""

from __future__ import annotations

import argparse
import sys

from adapters.sim.baselines import run_optimum, run_readahead
from adapters.sim.simulator import DEFAULT_COSTS, Figures, run_projection
from adapters.sim.trace import PROFILES, script

TARGET_SERVED = {"steady": 0.95, "habitual": 0.95, "mixed": 0.95}
TARGET_RENDERS = 2.0  # renders per request, times the optimum's
COSTS = DEFAULT_COSTS


def _sane(name: str, figures: Figures, requests: int) -> None:
    if figures.requests != requests or requests == 0:
        sys.exit(f"{name}: {figures.requests} requests seen, trace has {requests}: not reporting")
    if not 0 <= figures.waited <= figures.requests:
        sys.exit(f"{name}: waited {figures.waited} of {figures.requests}: not reporting")


def _sum(runs: list[Figures]) -> Figures:
    hits = tuple(sum(f.hits[i] for f in runs) for i in range(3))
    accuracies = [f.accuracy for f in runs if f.accuracy is not None]
    return Figures(
        sum(f.requests for f in runs),
        sum(f.waited for f in runs),
        (hits[0], hits[1], hits[2]),
        sum(f.rendered for f in runs),
        sum(f.wasted for f in runs),
        sum(accuracies) / len(accuracies) if accuracies else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--minutes", type=int, default=30)
    args = parser.parse_args()
    header = (
        f"{'profile':9} {'req':>5} {'L1':>6} {'L2':>6} {'L3':>6} {'served':>7} {'acc':>5} "
        f"{'r/req':>5} | {'readahd':>7} | {'optimum':>7} {'r/req':>5} | {'served':>6} "
        f"{'renders':>7}  targets"
    )
    print(header)
    print("-" * len(header))
    for profile in PROFILES:
        ours, ahead, best = [], [], []
        for seed in range(1, args.seeds + 1):
            trace = script(profile, seed, args.minutes)
            requests = sum(1 for s in trace.steps if s.kind == "request")
            run = run_projection(trace, COSTS)
            if run.state.stats.requests != requests or run.state.stats.misses > requests:
                sys.exit(f"{profile}: projection state disagrees with the trace: not reporting")
            for name, figures, into in (
                ("ours", run.figures, ours),
                ("read-ahead", run_readahead(trace, COSTS.render_ms), ahead),
                ("optimum", run_optimum(trace, COSTS.render_ms), best),
            ):
                _sane(f"{profile}/{name}", figures, requests)
                into.append(figures)
        o, a, b = _sum(ours), _sum(ahead), _sum(best)
        rate = [h / o.requests for h in o.hits]
        served = o.served / b.served if b.served else 0.0
        renders = o.renders_per_request / b.renders_per_request if b.rendered else 0.0
        acc = "-" if o.accuracy is None else f"{o.accuracy:.2f}"
        met = []
        if profile in TARGET_SERVED:
            ok = o.served >= TARGET_SERVED[profile]
            met.append(f"served≥{TARGET_SERVED[profile]:.0%} {'met' if ok else 'MISSED'}")
        ok = renders <= TARGET_RENDERS
        met.append(f"renders≤{TARGET_RENDERS:g}×opt {'met' if ok else 'MISSED'}")
        print(
            f"{profile:9} {o.requests:5d} {rate[0]:6.1%} {rate[1]:6.1%} {rate[2]:6.1%} "
            f"{o.served:7.1%} {acc:>5} {o.renders_per_request:5.2f} | {a.served:7.1%} | "
            f"{b.served:7.1%} {b.renders_per_request:5.2f} | {served:6.2f} {renders:7.2f}  "
            f"{', '.join(met)}"
        )
    print(
        f"\n{args.seeds} seeds × {args.minutes} min per profile; {COSTS.workers} workers, "
        f"{COSTS.render_ms} ms per chunk; the last two columns: ours ÷ the optimum's."
    )


if __name__ == "__main__":
    main()
