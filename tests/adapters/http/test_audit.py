"""Audit tools on a recorded session: policy marks, time ranges, follow, export + verify, report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from adapters.cli import main

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z: in the past, so no event is dated after its ingest
KEY = {"track": "t1", "revision": 0, "preset": "warm", "intensity_tenths": 5}
FINGERPRINT = {"size": 1000, "mtime_ns": 1, "content_hash": "ab"}


def _session() -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [
        {
            "type": "TrackAdded",
            "at": T0,
            "track": "t1",
            "path": "t1.flac",
            "fingerprint": FINGERPRINT,
            "duration_ms": 300_000,
            "sample_rate": 44100,
            "channels": 2,
        },
        {"type": "TrackChanged", "at": T0 + 1000, "track": "t1"},
        {"type": "PresetChanged", "at": T0 + 2000, "preset": "warm"},
    ]
    # A 50 Hz position feed: only one report per 100 ms throttle window is applied.
    lines += [
        {"type": "PositionReported", "at": T0 + 3000 + 20 * n, "position_ms": 2000 + 20 * n}
        for n in range(10)
    ]
    lines += [
        {"type": "ChunkRequested", "at": T0 + 4000, "key": {**KEY, "index": 0}},
        {
            "type": "ChunkRendered",
            "at": T0 + 6500,
            "key": {**KEY, "index": 0},
            "path": "t1/x0.flac",
            "bytes": 3_000_000,
            "checksum": "sha256:00",
            "frames": 1,
            "render_ms": 2400,
        },
        {"type": "ChunkRequested", "at": T0 + 30_000, "key": {**KEY, "index": 0}},
        {"type": "ChunkFailed", "at": T0 + 40_000, "key": {**KEY, "index": 1}, "reason": "timeout"},
        {
            "type": "MemoryPressureChanged",
            "at": T0 + 50_000,
            "level": "warning",
            "used_fraction": 0.8,
        },
        {
            "type": "MemoryPressureChanged",
            "at": T0 + 90_000,
            "level": "normal",
            "used_fraction": 0.6,
        },
    ]
    return lines


def cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    session = tmp_path / "session.jsonl"
    session.write_text("\n".join(json.dumps(line) for line in _session()) + "\n")
    db = tmp_path / "audit.db"
    code, _, err = cli("--db", str(db), "ingest", str(session), capsys=capsys)
    assert code == 0, err
    return db


def test_log_table_marks_throttled_position_reports(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli("--db", str(recorded), "log", "--format", "table", capsys=capsys)
    assert code == 0, err
    positions = [line for line in out.splitlines() if "PositionReported" in line]
    assert len(positions) == 10
    marks = [line.split()[3] for line in positions]
    assert marks == ["-", *["throttled"] * 4, "-", *["throttled"] * 4]
    # The same marks in JSON lines, and from a --since that starts mid-session.
    code, out, _ = cli(
        "--db",
        str(recorded),
        "log",
        "--json",
        "--since",
        "8",
        "--type",
        "PositionReported",
        capsys=capsys,
    )
    entries = [json.loads(line) for line in out.splitlines()]
    assert [e["seq"] for e in entries] == list(range(9, 14))
    by_seq = dict(zip(range(4, 14), marks, strict=True))
    assert [e["mark"] or "-" for e in entries] == [by_seq[e["seq"]] for e in entries]


def test_log_time_ranges(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        "--db",
        str(recorded),
        "log",
        "--format",
        "jsonl",
        "--from",
        "2023-11-14T22:13:50Z",
        "--to",
        str(T0 + 50_000),
        capsys=capsys,
    )
    assert code == 0
    assert [json.loads(line)["type"] for line in out.splitlines()] == [
        "ChunkRequested",
        "ChunkFailed",
        "MemoryPressureChanged",
    ]
    with pytest.raises(SystemExit):
        main(["--db", str(recorded), "log", "--from", "yesterday"])


def test_export_verifies_elsewhere_and_a_tampered_export_fails(
    recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export.jsonl"
    code, out, err = cli("--db", str(recorded), "export", str(export), capsys=capsys)
    assert code == 0, err
    lines = export.read_text().splitlines()
    assert json.loads(lines[0])["events"] == len(_session()) == len(lines) - 1
    code, out, _ = cli("verify", "--file", str(export), capsys=capsys)
    assert code == 0 and f"ok: {len(_session())} events" in out
    # Change one payload byte of seq 5: the chain breaks there, whatever follows.
    rows = [json.loads(line) for line in lines[1:]]
    assert "2020" in rows[4]["payload"]
    rows[4]["payload"] = rows[4]["payload"].replace("2020", "2021")
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join([lines[0], *(json.dumps(r) for r in rows)]) + "\n")
    code, out, _ = cli("verify", "--file", str(tampered), capsys=capsys)
    assert code == 1 and "FAILED at sequence 5" in out
    # A removed row is named too, and so is a line that is not a row.
    removed = tmp_path / "removed.jsonl"
    removed.write_text("\n".join([lines[0], *lines[1:3], *lines[4:]]) + "\n")
    code, out, _ = cli("verify", "--file", str(removed), capsys=capsys)
    assert code == 1 and "FAILED at sequence 3" in out
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text(lines[0] + '\n{"seq": 1}\n')
    code, out, _ = cli("verify", "--file", str(garbage), capsys=capsys)
    assert code == 1 and "FAILED at line 2" in out


class _Svg(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.svgs = 0
        self.series: dict[str, int] = {}
        self.circles = 0
        self.scripts = 0
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "svg":
            self.svgs += 1
        elif tag in ("polyline", "g") and found.get("class") == "series":
            self.series[found["data-name"] or ""] = int(found["data-points"] or 0)
            if tag == "polyline":
                assert len((found["points"] or "").split()) >= 2
        elif tag == "circle":
            self.circles += 1
        elif tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            if found.get(name):
                self.links.append(found[name] or "")


def test_the_report_plots_the_session_from_the_log(
    recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "report.html"
    code, out, err = cli("--db", str(recorded), "report", "--out", str(page), capsys=capsys)
    assert code == 0, err
    parser = _Svg()
    parser.feed(page.read_text())
    assert parser.svgs == 6 and parser.scripts == 0 and parser.links == []
    series = parser.series
    assert series["L1"] >= 1 or series["L3"] >= 1  # the rendered chunk was held
    assert series["miss"] == 1 and sum(v for k, v in series.items() if k.startswith("hit")) == 1
    assert series["wait"] == 1 and parser.circles >= 3  # wait, render time, memory readings
    assert series["rendered"] == 1 and series["failed: timeout"] == 1
    assert series["level"] == 2


def test_log_follow_prints_new_events_until_interrupted(recorded: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "adapters.cli",
            "--db",
            str(recorded),
            "log",
            "--follow",
            "--poll",
            "0.1",
            "--type",
            "Paused",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        extra = tmp_path / "more.jsonl"
        extra.write_text(json.dumps({"type": "Paused", "at": T0 + 100_000}) + "\n")
        assert main(["--db", str(recorded), "ingest", str(extra)]) == 0
        assert follower.stdout is not None
        line = follower.stdout.readline()  # blocks until the follower prints the new event
        assert "Paused" in line and line.split()[0] == str(len(_session()) + 1)
        follower.send_signal(signal.SIGINT)
        follower.wait(timeout=30)
        assert follower.returncode == 0, follower.stderr.read() if follower.stderr else ""
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
        for stream in (follower.stdout, follower.stderr):
            if stream is not None:
                stream.close()
