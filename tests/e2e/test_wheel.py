"""A plain (non-editable) install from a built wheel ships everything the console script needs.

Slow (builds a wheel and installs it with its dependencies into a fresh venv): run with
`pytest -m slow tests/test_wheel.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_wheel_installs_and_runs_demo(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
    )
    (wheel,) = wheels.glob("tierbuffer-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True)
    env = {**os.environ, "TIERBUFFER_DB": str(tmp_path / "demo.db")}
    result = subprocess.run(
        [str(venv / "bin" / "tierbuffer"), "demo"],
        cwd=tmp_path,  # not the source tree: the installed packages must be enough
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "verify: ok" in result.stdout
    verify = subprocess.run(
        [str(venv / "bin" / "tierbuffer"), "verify"], env=env, capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
