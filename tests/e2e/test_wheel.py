"""A plain (non-editable) install from a built wheel ships everything the console script needs.

The wheel is built from a copy of the source (the working tree stays clean), installed with its
dependencies into a fresh venv, and run outside the source tree: --version, a migration
(Alembic's migrations/ inside the wheel), a demo on a one-track library (audio, worker
processes, the service), and verify on what it wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import adapters
from tests.support.audio import write_track

ROOT = Path(__file__).resolve().parents[2]
LEFT_OUT = (".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")


@pytest.mark.timeout(900)
def test_wheel_installs_and_runs(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*LEFT_OUT))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
        check=True,
    )
    (wheel,) = wheels.glob("tierbuffer-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True)
    program = str(venv / "bin" / "tierbuffer")
    library = tmp_path / "library"
    write_track(library / "one.flac", 65.0, seed=0)
    env = {**os.environ, "TIERBUFFER_DB": str(tmp_path / "demo.db")}

    def run(*argv: str) -> str:
        result = subprocess.run(
            [program, *argv],
            cwd=tmp_path,  # not the source tree: the installed packages must be enough
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    assert run("--version") == f"tierbuffer {adapters.__version__}\n"
    assert "schema up to date" in run("migrate")
    demo = run("demo", "--library", str(library), "--speed", "100", "--workers", "1")
    assert "verify: ok" in demo and "chunk requests" in demo
    assert "hash chain intact" in run("verify")
