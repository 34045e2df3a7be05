"""`tierbuffer simulate --profile NAME [--seed N]`: the planner on a simulated listening trace,
beside the read-ahead baseline and the offline optimum, with the costs of the running service.

Wired in by the CLI with `cli_simulate.register(sub)`; the handler follows the CLI's command
convention (`async (args, out) -> int`, set as `run`). The simulator is imported only when the
command runs; its profile names and default costs are repeated here for the parser (a test keeps
them equal).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TextIO

from adapters.cli.options import non_negative, positive

if TYPE_CHECKING:
    from adapters.sim.simulator import Costs

PROFILES = ("steady", "habitual", "explorer", "seeker", "skipper", "mixed")
DEFAULT_WORKERS = 2
DEFAULT_RENDER_MS = 400
DEFAULT_ANALYSE_MS = 250

COLUMNS = """columns:
  requests  chunks the listener asked for
  served    share of them ready at once (served without waiting)
  waited    requests that had to wait for a render
  rendered  chunks rendered
  per req   chunks rendered per chunk asked for
  wasted    chunks rendered but never asked for
policies: planner (tierbuffer), read-ahead only (the next chunks of the current preset),
offline optimum (knows the whole trace in advance: the best any policy could do)"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="play a simulated listener through the cache planner and print figures",
        description="Plays a simulated listener through the planner in virtual time, beside "
        "two baselines, with the costs of the running service.",
        epilog=COLUMNS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--profile",
        choices=PROFILES,
        required=True,
        help="how the listener behaves: " + ", ".join(PROFILES),
    )
    p.add_argument(
        "--seed", type=int, default=1, help="seed of the listener's choices (default: 1)"
    )
    p.add_argument(
        "--minutes", type=positive, default=30, help="minutes of listening (default: 30)"
    )
    p.add_argument(
        "--workers",
        type=positive,
        default=DEFAULT_WORKERS,
        help=f"render workers (default: {DEFAULT_WORKERS})",
    )
    p.add_argument(
        "--render-ms",
        type=positive,
        default=DEFAULT_RENDER_MS,
        help=f"ms a worker takes per 30 s chunk (default: {DEFAULT_RENDER_MS})",
    )
    p.add_argument(
        "--analyse-ms",
        type=non_negative,
        default=DEFAULT_ANALYSE_MS,
        help=f"ms to analyse a chunk in the background (default: {DEFAULT_ANALYSE_MS})",
    )
    p.set_defaults(run=simulate)


def table(profile: str, seed: int, minutes: int, costs: Costs) -> str:
    from adapters.sim.baselines import run_optimum, run_readahead
    from adapters.sim.simulator import Figures, run_projection
    from adapters.sim.trace import script

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
    return "\n".join([*lines, "", COLUMNS])


async def simulate(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.sim.simulator import Costs

    costs = Costs(args.workers, args.render_ms, analyse_ms=args.analyse_ms)
    out.write(table(args.profile, args.seed, args.minutes, costs) + "\n")
    return 0
