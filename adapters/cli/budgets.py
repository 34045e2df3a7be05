"""`tierbuffer budgets`: the tiers' byte budgets, shown, or set by appending a `BudgetsSet` event.

Budgets live in the log (not in the configuration file): setting them is an event like any
other, so a running service picks them up at once and a replay gives the same state. A budget
not given keeps its current value.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from domain.state import Budgets, State

TIERS = ("l1", "l2", "l3")
MAX_MB = 1_000_000.0  # a terabyte: anything above is a typo


def megabytes(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of MB: {value!r}") from None
    if not 0 <= number <= MAX_MB:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_MB:g} MB")
    return number


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "budgets",
        help="show the tiers' byte budgets, or set them (as a BudgetsSet event in the log)",
        description="Without options: the configured budgets, those in force under the current "
        "memory pressure, and what each tier holds. With --l1/--l2/--l3: append a BudgetsSet "
        "event (a running service applies it at once).",
    )
    for tier, default in zip(TIERS, (18, 36, 45), strict=True):
        p.add_argument(
            f"--{tier}",
            type=megabytes,
            metavar="MB",
            help=f"set the {tier.upper()} budget, in MB of rendered chunks (default: unchanged; "
            f"a new log starts at {default})",
        )
    p.set_defaults(run=budgets)


def _mb(value: int) -> str:
    return f"{value / 1e6:.1f} MB"


def describe(state: State) -> str:
    from domain.tiers import budgets_in_force, now_playing

    configured = state.cache.configured
    in_force = budgets_in_force(state, now_playing(state, state.clock_ms))
    held = {tier: [0, 0] for tier in ("L1", "L2", "L3")}
    for entry in state.cache.held.values():
        held[entry.tier][0] += 1
        held[entry.tier][1] += entry.bytes
    lines = [f"{'tier':<4}  {'configured':>10}  {'in force':>10}  held"]
    for tier, mine, now in zip(
        ("L1", "L2", "L3"),
        (configured.l1, configured.l2, configured.l3),
        (in_force.l1, in_force.l2, in_force.l3),
        strict=True,
    ):
        count, size = held[tier]
        lines.append(f"{tier:<4}  {_mb(mine):>10}  {_mb(now):>10}  {_mb(size)} in {count} chunks")
    lines.append(f"memory pressure: {state.cache.pressure}")
    return "\n".join(lines) + "\n"


def _wanted(args: argparse.Namespace, current: Budgets) -> tuple[int, int, int]:
    given = [getattr(args, tier) for tier in TIERS]
    now = (current.l1, current.l2, current.l3)
    l1, l2, l3 = (now[n] if mb is None else round(mb * 1e6) for n, mb in enumerate(given))
    return l1, l2, l3


async def budgets(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.bootstrap import open_log, sources
    from domain.events import BudgetsSet, NewEvent
    from storage.projector import load_state

    if all(getattr(args, tier) is None for tier in TIERS):
        async with open_log(args.db, create=False, migrate=False, read_only=True) as log:
            state = (await load_state(log.events, log.snapshots)).state
        out.write(describe(state))
        return 0
    wired = sources()
    async with open_log(args.db, create=True, migrate=True, clock=wired.clock) as log:
        state = (await load_state(log.events, log.snapshots)).state
        l1, l2, l3 = _wanted(args, state.cache.configured)
        event = BudgetsSet(l1_bytes=l1, l2_bytes=l2, l3_bytes=l3)
        (seq,) = await log.events.append([NewEvent(wired.new_id(), wired.clock(), event)])
        state = (await load_state(log.events, log.snapshots)).state
    out.write(f"budgets set (BudgetsSet at sequence {seq}):\n{describe(state)}")
    return 0
