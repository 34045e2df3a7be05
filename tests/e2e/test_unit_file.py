"""examples/tierbuffer.service: a systemd unit whose command this tierbuffer accepts."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

from adapters.cli import build_parser

UNIT = Path(__file__).resolve().parents[2] / "examples" / "tierbuffer.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_the_unit_waits_for_readiness_and_has_a_watchdog() -> None:
    service = _unit()["Service"]
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) > 0
    assert service["KillSignal"] == "SIGTERM"


def test_its_command_line_is_one_this_tierbuffer_accepts(tmp_path: Path) -> None:
    command = shlex.split(_unit()["Service"]["ExecStart"].replace("%h", str(tmp_path)))
    assert Path(command[0]).name == "tierbuffer"
    args = build_parser().parse_args(command[1:])
    assert args.command == "serve" and args.library == tmp_path / "Music"
    assert args.http == "127.0.0.1:8770"


def _analyze(unit: Path) -> str:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    return result.stderr


def test_systemd_analyze_finds_nothing_wrong(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        return  # not on this machine: the checks above still hold
    text = UNIT.read_text().replace("%h/.local/bin/tierbuffer", "/bin/true")
    unit = tmp_path / "good" / "tierbuffer.service"
    unit.parent.mkdir()
    unit.write_text(text)
    assert "tierbuffer.service" not in _analyze(unit)
    broken = tmp_path / "broken" / "tierbuffer.service"  # and it would say so
    broken.parent.mkdir()
    broken.write_text(text.replace("Type=notify", "Type=notifyy"))
    assert "Failed to parse service type" in _analyze(broken)
