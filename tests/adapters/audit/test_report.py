"""`tierbuffer report`: one page per log, a section per session, the demo's figures, clear errors,
and plots that a real browser draws."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from adapters.cli import main
from tests.support.browser import Image, read_png, screenshot

T0 = 1_800_000_000_000  # 2027-01-15T08:00:00Z
MINUTE = 60_000
KEY = {"track": "t1", "revision": 0, "preset": "warm", "intensity_tenths": 5}
TRACK = {
    "type": "TrackAdded",
    "track": "t1",
    "path": "t1.flac",
    "fingerprint": {"size": 1000, "mtime_ns": 1, "content_hash": "ab"},
    "duration_ms": 300_000,
    "sample_rate": 44100,
    "channels": 2,
}


def _listening(at: int, index: int, preset: str, *, wait_ms: int) -> list[dict[str, Any]]:
    """A miss on chunk `index`, rendered `wait_ms` later, then a hit on it."""
    key = {**KEY, "preset": preset, "index": index}
    rendered = {
        "type": "ChunkRendered",
        "at": at + wait_ms,
        "key": key,
        "path": f"t1/x{index}.flac",
        "bytes": 3_000_000,
        "checksum": "sha256:00",
        "frames": 1,
        "render_ms": 900 + 100 * index,
    }
    return [
        {"type": "ChunkRequested", "at": at, "key": key},
        rendered,
        {"type": "ChunkRequested", "at": at + wait_ms + 500, "key": key},
    ]


def _service_session(start: int, waits: list[int], preset: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [
        {"type": "ServiceStarted", "at": start, "version": "test"},
        {"type": "TrackChanged", "at": start + 100, "track": "t1"},
        {"type": "PresetChanged", "at": start + 200, "preset": preset},
        {
            "type": "MemoryPressureChanged",
            "at": start + 300,
            "level": "normal",
            "used_fraction": 0.5,
        },
    ]
    for index, wait in enumerate(waits):
        lines += _listening(start + 1000 + index * 20_000, index, preset, wait_ms=wait)
    warning = {"level": "warning", "used_fraction": 0.8}
    lines.append({"type": "MemoryPressureChanged", "at": start + 2 * MINUTE, **warning})
    lines.append(
        {
            "type": "ChunkFailed",
            "at": start + 4 * MINUTE,
            "key": {**KEY, "index": 7},
            "reason": "timeout",
        }
    )
    lines.append({"type": "ServiceStopped", "at": start + 5 * MINUTE, "reason": "stopped"})
    return lines


@pytest.fixture
def two_sessions(tmp_path: Path) -> Path:
    """A scan, then two service sessions 25 minutes apart (the second at another preset)."""
    lines = [{**TRACK, "at": T0}]
    lines += _service_session(T0 + MINUTE, [1000, 3000, 2000], "warm")
    lines += _service_session(T0 + 30 * MINUTE, [4000], "bright")
    session = tmp_path / "sessions.jsonl"
    session.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    db = tmp_path / "report.db"
    assert main(["--db", str(db), "ingest", str(session)]) == 0
    return db


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[str] = []
        self.svgs = 0
        self.cells: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2" and ("class", "session") in attrs:
            self._in = "h2"
        elif tag in ("th", "td"):
            self._in = tag
        self.svgs += tag == "svg"

    def handle_data(self, data: str) -> None:
        if self._in == "h2":
            self.sessions.append(data)
        elif self._in in ("th", "td"):
            self.cells.append(data)
        self._in = None


def report(db: Path, out: Path, *argv: str) -> tuple[int, _Page]:
    code = main(["--db", str(db), "report", "--out", str(out), *argv])
    page = _Page()
    if out.exists():
        page.feed(out.read_text())
    return code, page


def test_each_session_gets_its_own_plots_and_the_scan_alone_has_nothing_to_plot(
    two_sessions: Path, tmp_path: Path
) -> None:
    code, page = report(two_sessions, tmp_path / "r.html")
    assert code == 0
    assert [title.split(":")[0] for title in page.sessions] == [
        "Session 1",
        "Session 2",
        "Session 3",
    ]
    assert "without the service" in page.sessions[0] and "service test" in page.sessions[1]
    assert page.svgs == 12  # six plots for each service session, none for the scan
    assert "5.0 min" in page.sessions[1]  # its own time axis, not the whole log's 35 minutes


def test_the_report_prints_the_figures_the_demo_prints(two_sessions: Path, tmp_path: Path) -> None:
    code, page = report(two_sessions, tmp_path / "r.html", "--session", "2")
    assert code == 0 and page.svgs == 6
    figures = dict(zip(page.cells[::2], page.cells[1::2], strict=True))
    assert figures["chunk requests"] == "6"
    assert figures["served without waiting"] == "3 (50%)"
    assert figures["waited for a render"] == (
        "3 (mean 2 000 ms, median 2 000 ms, p99 3 000 ms, max 3 000 ms)"
    )
    assert figures["renders"] == (
        "3 chunks rendered (0.50 per request); failed or stopped: timeout 1"
    )


def test_from_and_to_keep_only_what_happened_between(two_sessions: Path, tmp_path: Path) -> None:
    begin = "2027-01-15T08:20:00Z"
    code, page = report(two_sessions, tmp_path / "r.html", "--from", begin)
    assert code == 0 and len(page.sessions) == 1 and page.svgs == 6
    assert "08:30" in page.sessions[0]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--from", "2030-01-01T00:00:00Z"], "no events from 2030-01-01"),
        (["--session", "9"], "no session 9 (there are 3)"),
        (["--session", "0"], "must be 1 or more"),
        (["--from", "yesterday"], "--from"),
    ],
)
def test_bad_requests_are_one_line_and_write_nothing(
    two_sessions: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    needle: str,
) -> None:
    out = tmp_path / "r.html"
    try:
        code = main(["--db", str(two_sessions), "report", "--out", str(out), *argv])
    except SystemExit as e:
        code = int(e.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("tierbuffer: error: "), err
    assert needle in err
    assert not out.exists()


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_an_impossible_out_is_refused_naming_it(
    two_sessions: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    out = tmp_path / "nowhere" / "r.html" if where == "missing folder" else tmp_path
    code = main(["--db", str(two_sessions), "report", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and str(out) in err, err
    assert not (tmp_path / "nowhere").exists()


# --- in a real browser ------------------------------------------------------------------------

BACKGROUND = (250, 250, 250)  # the plot area's fill, #fafafa


def _longest_run(image: Image, y: int) -> tuple[int, int] | None:
    """The longest run of background pixels in row `y` (every other pixel looked at), if it is
    long enough to be a plot area (anti-aliased text has a few such pixels, never a run)."""
    best, start = (0, 0), None
    for x in range(0, image.width + 2, 2):
        inside = x < image.width and image.pixel(x, y) == BACKGROUND
        if inside and start is None:
            start = x
        elif not inside and start is not None:
            best = max(best, (x - start, start), key=lambda run: run[0])
            start = None
    length, begin = best
    return (begin, begin + length) if length >= 120 else None


def plot_areas(image: Image) -> list[tuple[int, int, int, int]]:
    """Rectangles (x0, y0, x1, y1) filled with the plot background: runs of rows with a long run
    of background pixels, allowing the few rows that a grid or series line crosses."""
    rows = [_longest_run(image, y) for y in range(image.height)]
    areas, start, gap = [], None, 0
    for y, span in enumerate([*rows, *[None] * 6]):
        if span is not None:
            start, gap = (y if start is None else start), 0
        elif start is not None:
            gap += 1
            if gap > 5:
                found = [r for r in rows[start:y] if r is not None]
                if y - gap - start > 100:
                    x0, x1 = min(r[0] for r in found), max(r[1] for r in found)
                    areas.append((x0, start, x1, y - gap))
                start, gap = None, 0
    return areas


def ink(image: Image, area: tuple[int, int, int, int]) -> int:
    """Coloured (not grey) pixels inside an area: the plotted series."""
    x0, y0, x1, y1 = area
    count = 0
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1, 2):
            r, g, b = image.pixel(x, y)
            count += max(r, g, b) - min(r, g, b) > 40
    return count


def test_the_report_shows_its_plots_in_chromium(two_sessions: Path, tmp_path: Path) -> None:
    page, png = tmp_path / "r.html", tmp_path / "r.png"
    assert report(two_sessions, page, "--session", "2")[0] == 0
    screenshot(page, png, width=860, height=2300)
    image = read_png(png)
    areas = plot_areas(image)
    assert len(areas) == 6, areas
    drawn = [ink(image, area) for area in areas]
    assert all(n >= 5 for n in drawn), drawn


def test_the_pixel_check_sees_an_empty_plot(tmp_path: Path) -> None:
    """The check above can fail: a page whose plot areas hold no series shows no ink."""
    page, png = tmp_path / "empty.html", tmp_path / "empty.png"
    frame = (
        '<svg width="760" height="240">'
        '<rect x="64" y="30" width="546" height="174" fill="#fafafa"/></svg>'
    )
    page.write_text(f"<!DOCTYPE html><html><body>{frame}</body></html>")
    screenshot(page, png, width=860, height=400)
    image = read_png(png)
    areas = plot_areas(image)
    assert len(areas) == 1 and ink(image, areas[0]) == 0
