"""`tierbuffer simulate --profile NAME [--seed N]`: the planner on a simulated listening trace.

Wired in by the CLI with `cli_simulate.register(sub)`; the handler follows the CLI's command
convention (`async (args, out) -> int`, set as `run`). The simulator is imported only when the
command runs; its profile names are repeated here for the parser (a test keeps them equal).
"""

from __future__ import annotations

import argparse
from typing import TextIO

from adapters.cli.options import positive

PROFILES = ("steady", "habitual", "explorer", "seeker", "skipper", "mixed")
DEFAULT_RENDER_MS = 2_500

COLUMNS = """columns:
  requests  chunks the listener asked for
  served    share of them ready at once (served without waiting)
  waited    requests that had to wait for a render
  rendered  chunks rendered
  wasted    chunks rendered but never asked for
policies: planner (tierbuffer), read-ahead only (the next chunks of the current preset),
offline optimum (knows the whole trace in advance: the best any policy could do)"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "simulate",
        help="play a simulated listener through the cache planner and print figures",
        description="Plays a simulated listener through the planner in virtual time, beside "
        "two baselines.",
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
        "--render-ms",
        type=positive,
        default=DEFAULT_RENDER_MS,
        help=f"time the simulated worker takes per 30 s chunk (default: {DEFAULT_RENDER_MS})",
    )
    p.set_defaults(run=simulate)


def table(profile: str, seed: int, minutes: int, render_ms: int) -> str:
    from adapters.sim.baselines import run_optimum, run_readahead
    from adapters.sim.simulator import Figures, run_projection, script

    trace = script(profile, seed, minutes)
    run = run_projection(trace, render_ms)
    rows: list[tuple[str, Figures]] = [
        ("planner", run.figures),
        ("read-ahead only", run_readahead(trace, render_ms)),
        ("offline optimum", run_optimum(trace, render_ms)),
    ]
    lines = [
        f"profile {profile}, seed {seed}, {minutes} min, {len(run.events)} events, "
        f"worker {render_ms} ms per chunk",
        f"{'policy':16} {'requests':>8} {'served':>7} {'waited':>7} {'rendered':>8} {'wasted':>6}",
    ]
    for name, f in rows:
        lines.append(
            f"{name:16} {f.requests:8d} {f.served:7.1%} {f.waited:7d} {f.rendered:8d} {f.wasted:6d}"
        )
    ours = run.figures
    hits = " ".join(
        f"{tier} {h / ours.requests:.1%}" if ours.requests else f"{tier} -"
        for tier, h in zip(("L1", "L2", "L3"), ours.hits, strict=True)
    )
    accuracy = "-" if ours.accuracy is None else f"{ours.accuracy:.1%}"
    best = rows[2][1].served
    ratio = f"{ours.served / best:.2f}" if best else "-"
    lines.append(
        f"planner hits by tier: {hits}; prediction accuracy {accuracy}; served / optimum {ratio}"
    )
    return "\n".join([*lines, "", COLUMNS])


async def simulate(args: argparse.Namespace, out: TextIO) -> int:
    print(table(args.profile, args.seed, args.minutes, args.render_ms), file=out)
    return 0
