"""`tierbuffer simulate --profile NAME`: the planner on a simulated listening trace, beside the
read-ahead baseline and the offline optimum, with the costs of the running service."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from adapters.cli.options import non_negative, positive
from adapters.sim.baselines import run_optimum, run_readahead
from adapters.sim.simulator import DEFAULT_COSTS, Costs, Figures, run_projection
from adapters.sim.trace import PROFILES, script

COLUMNS = """columns: requests = chunk requests of the player; served = share of them served at
once (a hit); waited = requests that waited for a render; rendered = renders that produced a
chunk; per req = rendered / requests; wasted = chunks rendered and never requested"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="play a simulated listener through the cache planner and print figures",
        description=COLUMNS,
    )
    p.add_argument("--profile", choices=PROFILES, required=True, help="the listener")
    p.add_argument("--seed", type=int, default=1, help="which trace of the profile (default 1)")
    p.add_argument("--minutes", type=positive, default=30, help="length of the trace (default 30)")
    costs = DEFAULT_COSTS
    p.add_argument(
        "--workers", type=positive, default=costs.workers, help=f"(default {costs.workers})"
    )
    p.add_argument(
        "--render-ms",
        type=positive,
        default=costs.render_ms,
        help=f"ms to render a 30 s chunk (default {costs.render_ms})",
    )
    p.add_argument(
        "--analyse-ms",
        type=non_negative,
        default=costs.analyse_ms,
        help=f"ms to analyse a chunk in the background (default {costs.analyse_ms})",
    )
    p.set_defaults(run=simulate)


def table(profile: str, seed: int, minutes: int, costs: Costs) -> str:
    trace = script(profile, seed, minutes)
    run = run_projection(trace, costs)
    rows: list[tuple[str, Figures]] = [
        ("planner", run.figures),
        ("read-ahead only", run_readahead(trace, costs.render_ms)),
        ("offline optimum", run_optimum(trace, costs.render_ms)),
    ]
    lines = [
        f"profile {profile}, seed {seed}, {minutes} min, {len(run.events)} events, "
        f"{costs.workers} workers, {costs.render_ms} ms per chunk",
        f"{'policy':16} {'requests':>8} {'served':>7} {'waited':>7} {'rendered':>8} "
        f"{'per req':>7} {'wasted':>6}",
    ]
    for name, f in rows:
        lines.append(
            f"{name:16} {f.requests:8d} {f.served:7.1%} {f.waited:7d} {f.rendered:8d} "
            f"{f.renders_per_request:7.2f} {f.wasted:6d}"
        )
    ours = run.figures
    hits = " ".join(
        f"{tier} {h / ours.requests:.1%}" if ours.requests else f"{tier} -"
        for tier, h in zip(("L1", "L2", "L3"), ours.hits, strict=True)
    )
    accuracy = "-" if ours.accuracy is None else f"{ours.accuracy:.1%}"
    best = rows[2][1]
    ratio = f"{ours.served / best.served:.2f}" if best.served else "-"
    cost = f"{ours.rendered / best.rendered:.2f}" if best.rendered else "-"
    lines.append(
        f"planner hits by tier: {hits}; prediction accuracy {accuracy}; served {ratio} and "
        f"renders {cost} x the optimum's"
    )
    lines.append(COLUMNS)
    return "\n".join(lines)


async def simulate(args: argparse.Namespace, out: TextIO) -> int:
    costs = Costs(args.workers, args.render_ms, analyse_ms=args.analyse_ms)
    out.write(table(args.profile, args.seed, args.minutes, costs) + "\n")
    return 0
