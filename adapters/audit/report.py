"""`tierbuffer report`: one self-contained HTML page of a session, plotted from the log.

Inline SVG drawn here (no scripts, no CDN, no server): tier occupancy, hits and misses, the waits
of missed chunks, renders and failures, memory pressure. Everything is folded from the log, so
the page says what the log says.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from datetime import UTC, datetime

import anyio
import msgspec

from adapters.audit.report_data import Point, Session, fold_sessions, thin
from adapters.audit.stats import session_stats, stats_rows
from storage.log import Log

COLOURS = ["#1b6ca8", "#e07a1f", "#3a9d4a", "#c0392b", "#7d3c98", "#7f8c8d"]
WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 30, 36


class Series(msgspec.Struct):
    name: str
    points: list[Point]
    style: str = "step"  # step | line | dots


def _nice_step(span: float, count: int = 4) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about `count` ticks."""
    raw = max(span, 1e-9) / count
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _ticks(low: float, high: float) -> list[float]:
    step = _nice_step(high - low)
    first = math.floor(low / step) * step
    count = math.ceil((high - first) / step - 1e-9)
    return [first + step * i for i in range(count + 1)]


def _fmt(value: float) -> str:
    """A tick label: whole numbers as they are, others to four significant digits."""
    rounded = round(value, 9)
    return f"{rounded:.0f}" if rounded == int(rounded) else f"{rounded:.4g}"


def chart(title: str, y_label: str, series: list[Series], start: int, end: int) -> str:
    """One SVG plot; x is minutes since `start` (event time)."""
    shown = [s for s in series if s.points]
    if not shown:
        return (
            f'<section><h2>{html.escape(title)}</h2><p class="empty">nothing recorded</p></section>'
        )
    x_max = max((end - start) / 60_000, 1e-3)
    y_values = [y for s in shown for _, y in s.points]
    y_min = min(0.0, min(y_values))
    y_ticks = _ticks(y_min, max(max(y_values), 1e-9))
    y_max = y_ticks[-1]
    x_ticks = _ticks(0, x_max)
    x_max = x_ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(t: float) -> float:
        return LEFT + plot_w * ((t - start) / 60_000) / x_max

    def sy(v: float) -> float:
        return TOP + plot_h * (1 - (v - y_min) / (y_max - y_min))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        'stroke="#bbb"/>',
    ]
    for v in y_ticks:
        y = sy(v)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(v)}</text>')
    for m in x_ticks:
        x = LEFT + plot_w * m / x_max
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 16}" text-anchor="middle">{_fmt(m)}</text>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 2}" text-anchor="middle">'
        "minutes (event time)</text>"
        f'<text x="12" y="{TOP + plot_h / 2}" transform="rotate(-90 12 {TOP + plot_h / 2})" '
        f'text-anchor="middle">{html.escape(y_label)}</text>'
    )
    for n, s in enumerate(shown):
        colour = COLOURS[n % len(COLOURS)]
        points = thin(s.points)
        name = html.escape(s.name)
        if s.style == "dots":
            dots = "".join(
                f'<circle cx="{sx(t):.1f}" cy="{sy(v):.1f}" r="2.5"/>' for t, v in points
            )
            parts.append(
                f'<g class="series" data-name="{name}" data-points="{len(points)}" '
                f'fill="{colour}">{dots}</g>'
            )
        else:
            coords = _path(points, end, s.style == "step", sx, sy)
            parts.append(
                f'<polyline class="series" data-name="{name}" data-points="{len(points)}" '
                f'fill="none" stroke="{colour}" stroke-width="1.6" points="{coords}"/>'
            )
        y = TOP + 14 + 16 * n
        parts.append(
            f'<rect x="{WIDTH - RIGHT + 10}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{WIDTH - RIGHT + 26}" y="{y}">{name}</text>'
        )
    parts.append("</svg>")
    return f"<section><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


def _path(
    points: list[Point],
    end: int,
    step: bool,
    sx: Callable[[float], float],
    sy: Callable[[float], float],
) -> str:
    coords: list[str] = []
    previous: float | None = None
    for t, v in points:
        if step and previous is not None:
            coords.append(f"{sx(t):.1f},{sy(previous):.1f}")
        coords.append(f"{sx(t):.1f},{sy(v):.1f}")
        previous = v
    if step and previous is not None:
        coords.append(f"{sx(end):.1f},{sy(previous):.1f}")
    return " ".join(coords)


def _summary(session: Session) -> str:
    rows = [("events", str(session.events)), *stats_rows(session_stats(session))]
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="stats">{cells}</table>'


STYLE = """body{font:14px system-ui,sans-serif;margin:2em auto;max-width:820px;color:#222}
svg text{font-size:11px;fill:#444}
th{text-align:left;padding-right:1.5em;font-weight:600}.empty{color:#888}h2{font-size:16px}
h2.session{font-size:18px;border-top:2px solid #ccc;padding-top:1em;margin-top:2em}
table.sessions td,table.sessions th{padding:0 1em 0 0}"""


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def session_title(number: int, session: Session) -> str:
    kind = f"service {session.service}" if session.service else "without the service"
    start = session.first_at or 0
    minutes = (session.last_at - start) / 60_000
    ended = f", stopped: {session.stop_reason}" if session.stop_reason else ""
    return f"Session {number}: {kind}, {_when(start)}, {minutes:.1f} min{ended}"


def _charts(session: Session) -> list[str]:
    start = session.first_at or 0
    end = max(session.last_at, start + 1)
    occupancy = [Series(t, p) for t, p in session.occupancy.items()]
    hits = [Series("hit " + t if t != "miss" else "miss", p) for t, p in session.hits.items()]
    renders = [
        Series("rendered", session.renders),
        *(Series(f"failed: {k}", v) for k, v in sorted(session.failures.items())),
    ]
    memory = [Series("level", session.memory), Series("% used", session.memory_used, "dots")]
    return [
        chart("Tier occupancy", "MB held", occupancy, start, end),
        chart(
            "Chunk requests: hits per tier and misses", "requests (cumulative)", hits, start, end
        ),
        chart(
            "Waits for missed chunks",
            "seconds until rendered",
            [Series("wait", session.waits, "dots")],
            start,
            end,
        ),
        chart("Renders and failures", "count (cumulative)", renders, start, end),
        chart(
            "Render time", "ms per chunk", [Series("render", session.render_ms, "dots")], start, end
        ),
        chart("Memory pressure", "level (0 normal … 3 emergency) / % used", memory, start, end),
    ]


_NOTHING = '<p class="empty">nothing to plot: no chunk requests, renders or memory readings</p>'


def plottable(session: Session) -> bool:
    """Whether the session has anything to draw (a scan alone, or a budget change, has not)."""
    series = [*session.hits.values(), session.renders, session.memory, *session.failures.values()]
    held = any(v for points in session.occupancy.values() for _, v in points)
    return held or any(series)


def _index(sessions: list[tuple[int, Session]]) -> str:
    rows = "".join(
        f'<tr><td><a href="#session-{n}">{n}</a></td>'
        f"<td>{html.escape(session_title(n, s).split(': ', 1)[1])}</td>"
        f"<td>{s.events} events</td></tr>"
        for n, s in sessions
    )
    return f'<table class="sessions">{rows}</table>'


def render_html(sessions: list[tuple[int, Session]], title: str) -> str:
    """One page: an index of the sessions, then each with its figures and plots."""
    parts = [_index(sessions)] if len(sessions) > 1 else []
    for number, session in sessions:
        plots = "".join(_charts(session)) if plottable(session) else _NOTHING
        parts.append(
            f'<h2 class="session" id="session-{number}">'
            f"{html.escape(session_title(number, session))}</h2>{_summary(session)}{plots}"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>tierbuffer session report</title><style>{STYLE}</style></head><body>"
        f"<h1>tierbuffer session report</h1><p>{html.escape(title)}</p>"
        f"{''.join(parts)}</body></html>\n"
    )


async def fold_report(
    log: Log, *, begin: int | None = None, end: int | None = None
) -> list[Session]:
    return await anyio.to_thread.run_sync(
        lambda: fold_sessions(log.events.iter_recorded(), begin=begin, end=end)
    )
