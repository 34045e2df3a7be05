"""Regenerate the golden planning logs and their expected state hashes.

Run after a deliberate change of the projection (and a PROJECTION_VERSION bump) or of the
simulator:

    .venv/bin/python tests/domain/planning/golden/regenerate.py

Each profile's log is the simulator's event log (seed 1, 15 minutes), one Recorded per line as
JSON, gzip-compressed with a fixed mtime so the bytes are reproducible; `hashes.json` holds the
state hash a fresh fold of each log must reach.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import msgspec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from adapters.sim.simulator import run_projection  # noqa: E402
from adapters.sim.trace import PROFILES, script  # noqa: E402
from domain.state import PROJECTION_VERSION, state_hash  # noqa: E402

SEED = 1
MINUTES = 15


def main() -> None:
    encoder = msgspec.json.Encoder()
    hashes: dict[str, object] = {"projection_version": PROJECTION_VERSION}
    for profile in PROFILES:
        run = run_projection(script(profile, SEED, MINUTES))
        lines = b"".join(encoder.encode(r) + b"\n" for r in run.events)
        with (HERE / f"{profile}.jsonl.gz").open("wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
                packed.write(lines)
        hashes[profile] = state_hash(run.state)
        print(f"{profile}: {len(run.events)} events, {hashes[profile]}")  # noqa: T201
    (HERE / "hashes.json").write_text(json.dumps(hashes, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
