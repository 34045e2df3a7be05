"""The conventions of a command line: global options anywhere, `--version`, help that states
every default, bad input answered in one line (exit 2) and never with a traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import adapters
from adapters.cli import build_parser, main
from adapters.cli.simulate import PROFILES
from tests.support.events import session_lines, write_session


def test_global_options_are_accepted_after_the_command_too(tmp_path: Path) -> None:
    db = tmp_path / "after.db"
    assert main(["migrate", "--db", str(db)]) == 0
    assert db.exists()
    session = write_session(tmp_path / "s.jsonl", session_lines(3))
    assert main(["ingest", str(session), "--db", str(db), "--log-level", "warning"]) == 0
    assert main(["state", "--db", str(db), "-v", "--log-format", "json"]) == 0


def test_an_option_after_the_command_overrides_the_one_before(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--db", "first.db", "state", "--db", "second.db"])
    assert args.db == Path("second.db")
    args = build_parser().parse_args(["--db", "first.db", "state"])
    assert args.db == Path("first.db")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--version"])
    assert raised.value.code == 0
    assert capsys.readouterr().out == f"tierbuffer {adapters.__version__}\n"


def test_the_version_is_written_once() -> None:
    from importlib.metadata import version

    assert version("tierbuffer") == adapters.__version__


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {"tierbuffer": parser, **parser.commands}  # type: ignore[attr-defined]


def test_every_option_has_help_stating_its_default() -> None:
    """Flags (no value) are off unless given; every option taking a value says its default."""
    missing = []
    for name, command in _commands(build_parser()).items():
        for action in command._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            if not action.help:
                missing.append(f"{name} {action.option_strings[0]}: no help")
            elif action.nargs != 0 and not action.required and "default" not in action.help:
                missing.append(f"{name} {action.option_strings[0]}: no default in {action.help!r}")
    assert not missing, "\n".join(missing)


def test_simulate_explains_its_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--profile", "steady", "--minutes", "2"]) == 0
    out = capsys.readouterr().out
    for column in ("requests", "served", "waited", "rendered", "wasted", "offline optimum"):
        assert f"  {column}" in out or column in out.split("policies:")[1]


def test_the_parsers_profiles_and_costs_are_the_simulators() -> None:
    from adapters.cli import simulate as parsed
    from adapters.sim.simulator import DEFAULT_COSTS
    from adapters.sim.trace import PROFILES as SIMULATED

    assert PROFILES == SIMULATED
    assert (parsed.DEFAULT_WORKERS, parsed.DEFAULT_RENDER_MS, parsed.DEFAULT_ANALYSE_MS) == (
        DEFAULT_COSTS.workers,
        DEFAULT_COSTS.render_ms,
        DEFAULT_COSTS.analyse_ms,
    )


BAD_INPUT = [
    ["--log-level", "loud", "state"],
    ["--log-format", "xml", "state"],
    ["serve", "--workers", "0", "--library", "."],
    ["serve", "--workers", "two", "--library", "."],
    ["demo", "--speed", "1000"],
    ["demo", "--speed", "fast"],
    ["simulate", "--profile", "nobody"],
    ["simulate", "--profile", "steady", "--minutes", "-3"],
    ["log", "--type", "Exploded"],
    ["log", "--from", "yesterday"],
    ["budgets", "--l1", "-1"],
    ["budgets", "--l2", "lots"],
    ["report", "--session", "zero"],
    ["state", "--unknown"],
    ["no-such-command"],
    ["completion", "fish"],
]


@pytest.mark.parametrize("argv", BAD_INPUT, ids=lambda argv: " ".join(argv))
def test_bad_input_is_one_line_exit_2(argv: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "--db", str(tmp_path / "x.db"), *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("tierbuffer: error: ")
    assert "--help" in result.stderr  # says where to look
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not list(tmp_path.iterdir()), "a refused command leaves nothing behind"
