"""The chaos benchmark, small: SIGKILL the service twice, restart, nothing acknowledged lost.

The long run (`python bench/chaos.py --kills 200`) is on demand; `-m slow` runs 20 kills.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHAOS = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


def _run(kills: int, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHAOS), "--kills", str(kills), "--seed", "7", "--keep", str(folder)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.mark.timeout(300)
def test_two_kills_lose_nothing(tmp_path: Path) -> None:
    result = _run(2, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kills survived: 2/2, acknowledged events lost: 0" in result.stdout


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_twenty_kills_lose_nothing(tmp_path: Path) -> None:
    result = _run(20, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kills survived: 20/20, acknowledged events lost: 0" in result.stdout
