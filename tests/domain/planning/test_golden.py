"""Golden logs per listener profile: a fresh fold must reach the recorded state hash.

When the projection changes on purpose, bump PROJECTION_VERSION and run
`.venv/bin/python tests/domain/planning/golden/regenerate.py`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import msgspec
import pytest

from adapters.sim.simulator import run_projection
from adapters.sim.trace import PROFILES, script
from domain.events import Recorded
from domain.projection import fold
from domain.state import PROJECTION_VERSION, state_hash

GOLDEN = Path(__file__).resolve().parent / "golden"
EXPECTED = json.loads((GOLDEN / "hashes.json").read_text())
_decoder = msgspec.json.Decoder(Recorded)


def load(profile: str) -> list[Recorded]:
    with gzip.open(GOLDEN / f"{profile}.jsonl.gz", "rb") as lines:
        return [_decoder.decode(line) for line in lines]


def test_golden_hashes_belong_to_this_projection_version() -> None:
    assert EXPECTED["projection_version"] == PROJECTION_VERSION, "run golden/regenerate.py"


@pytest.mark.parametrize("profile", PROFILES)
def test_golden_log_folds_to_its_recordedprinted_state_hash(profile: str) -> None:
    assert state_hash(fold(load(profile))) == EXPECTED[profile]


@pytest.mark.parametrize("profile", ["habitual", "explorer"])
def test_simulator_still_produces_the_golden_log(profile: str) -> None:
    run = run_projection(script(profile, 1, 15))
    assert state_hash(run.state) == EXPECTED[profile]
    assert list(run.events) == load(profile)
