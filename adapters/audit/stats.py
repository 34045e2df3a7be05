"""The figures of a session, in the words both the demo's final table and the report print.

Computed from the session's series (folded from the log), so the demo and `tierbuffer report`
for the same session say the same thing: requests, hits per tier, how many were served without
waiting, the waits of misses (count, mean, median, p99, max), renders (and per request) and
failures.
"""

from __future__ import annotations

import math

import msgspec

from adapters.audit.report_data import Session

Row = tuple[str, str]


class SessionStats(msgspec.Struct, frozen=True):
    requests: int
    hits: dict[str, int]  # L1, L2, L3
    misses: int
    waits_ms: list[int]  # each missed chunk that was then rendered: first request to rendered
    never_rendered: int  # missed chunks not rendered before the session ended
    renders: int
    failures: dict[str, int]

    @property
    def served(self) -> int:
        return sum(self.hits.values())


def session_stats(session: Session) -> SessionStats:
    return SessionStats(
        requests=sum(len(points) for points in session.hits.values()),
        hits={tier: len(session.hits[tier]) for tier in ("L1", "L2", "L3")},
        misses=len(session.hits["miss"]),
        waits_ms=[round(seconds * 1000) for _, seconds in session.waits],
        never_rendered=len(session.pending),
        renders=len(session.renders),
        failures={reason: len(points) for reason, points in sorted(session.failures.items())},
    )


def percentile(values: list[int], share: float) -> int:
    """Nearest-rank percentile of `values` (not empty)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _ms(value: float) -> str:
    return f"{value:,.0f} ms".replace(",", " ")


def _waits(waits: list[int]) -> str:
    if not waits:
        return "0"
    mean = sum(waits) / len(waits)
    return (
        f"{len(waits)} (mean {_ms(mean)}, median {_ms(percentile(waits, 0.5))}, "
        f"p99 {_ms(percentile(waits, 0.99))}, max {_ms(max(waits))})"
    )


def stats_rows(stats: SessionStats) -> list[Row]:
    """The rows, in order; callers may add their own before or after."""
    share = f" ({stats.served / stats.requests:.0%})" if stats.requests else ""
    hits = " / ".join(str(stats.hits[tier]) for tier in ("L1", "L2", "L3"))
    failures = ", ".join(f"{k} {v}" for k, v in stats.failures.items()) or "none"
    per = f" ({stats.renders / stats.requests:.2f} per request)" if stats.requests else ""
    return [
        ("chunk requests", str(stats.requests)),
        ("served without waiting", f"{stats.served}{share}"),
        ("hits L1 / L2 / L3", hits),
        ("misses", str(stats.misses)),
        ("waited for a render", _waits(stats.waits_ms)),
        ("missed, never rendered", str(stats.never_rendered)),
        ("renders", f"{stats.renders} chunks rendered{per}; failed or stopped: {failures}"),
    ]


def table(rows: list[Row], indent: str = "  ") -> str:
    """Rows as aligned text lines."""
    width = max((len(name) for name, _ in rows), default=0)
    return "\n".join(f"{indent}{name:<{width}}  {value}" for name, value in rows)
