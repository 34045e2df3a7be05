"""Same log, same state hash: in fresh interpreters with different PYTHONHASHSEED values.

String hashing is randomised per process, so any set iteration or hash()-dependent ordering that
leaks into the state or its encoding would show up here as different hashes.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.ingest import read_session
from domain.events import Recorded
from domain.projection import fold
from domain.state import state_hash
from tests.domain.golden.regenerate import printed_hash, run

SEEDS = ("0", "1", "12345")
START = 1_795_514_400_000  # 2026-11-24T10:00:00Z
#: When the in-memory folds say the session was recorded: ingested a week after it happened
#: (the CLI's ingest records it now; either way it is timed by its own `at` values).
INGESTED_AT = START + 7 * 86_400_000

FOLD_SCRIPT = """
import sys
from pathlib import Path
from adapters.ingest import read_session
from domain.events import Recorded
from domain.projection import fold
from domain.state import state_hash
log = [
    Recorded(seq, new.event_id, new.occurred_at, int(sys.argv[2]), new.event)
    for seq, new in enumerate(read_session(Path(sys.argv[1])), start=1)
]
print(state_hash(fold(log)))
"""


def write_session(path: Path, *, lines: int = 400, seed: int = 20261124) -> Path:
    """A mixed session over many tracks: library churn, track changes, seeks, presets, pauses."""
    rng = random.Random(seed)
    tracks = [f"trk-{rng.getrandbits(40):010x}-{name}" for name in range(60)]
    alive: list[str] = []
    now = START
    out = []

    def fingerprint() -> dict[str, object]:
        return {
            "size": rng.randrange(10**5, 10**8),
            "mtime_ns": rng.randrange(10**18, 2 * 10**18),
            "content_hash": f"{rng.getrandbits(32):08x}",
        }

    def upsert(kind: str, track: str) -> dict[str, object]:
        return {
            "type": kind,
            "track": track,
            "path": f"lib/{track}.flac",
            "fingerprint": fingerprint(),
            "duration_ms": rng.randrange(30_000, 600_000),
            "sample_rate": rng.choice([44_100, 48_000, 96_000]),
            "channels": rng.choice([1, 2]),
        }

    for track in tracks[:40]:  # the initial scan
        now += rng.randrange(0, 5)
        out.append({**upsert("TrackAdded", track), "at": now})
        alive.append(track)
    while len(out) < lines:
        now += rng.choice([rng.randrange(0, 20_000), -rng.randrange(0, 3_000)])
        roll = rng.random()
        track = rng.choice(alive or tracks)
        if roll < 0.10:
            event = upsert("TrackAdded", rng.choice(tracks))
        elif roll < 0.18:
            event = upsert("TrackModified", track)
        elif roll < 0.22:
            event = {"type": "TrackMoved", "track": track, "path": f"moved/{rng.random():.6f}.flac"}
        elif roll < 0.27:
            event = {"type": "TrackDeleted", "track": track}
        elif roll < 0.42:
            event = {"type": "TrackChanged", "track": track, "position_ms": rng.randrange(0, 9**6)}
        elif roll < 0.55:
            event = {"type": "PositionReported", "position_ms": rng.randrange(0, 700_000)}
        elif roll < 0.65:
            event = {"type": "Seeked", "position_ms": rng.randrange(0, 700_000)}
        elif roll < 0.72:
            preset = rng.choice(["adaptive", "gentle", "warm", "bright", "punchy"])
            event = {"type": "PresetChanged", "preset": preset}
        elif roll < 0.79:
            event = {"type": "IntensityChanged", "intensity": round(rng.random(), 3)}
        elif roll < 0.97:
            event = {"type": rng.choice(["Paused", "Resumed", "Stopped"])}
        else:
            event = {"type": "MemoryPressureChanged", "level": "warning", "used_fraction": 0.8}
        if event["type"] in ("TrackAdded",):
            alive.append(str(event["track"]))
        elif event["type"] == "TrackDeleted" and track in alive:
            alive.remove(track)
        out.append({**event, "at": max(now, 0)})
    path.write_text("".join(json.dumps(e) + "\n" for e in out), encoding="utf-8")
    return path


def _env(seed: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TIERBUFFER_DB"}
    env["PYTHONHASHSEED"] = seed
    return env


def _python(seed: str, *args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        env=_env(seed),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, f"PYTHONHASHSEED={seed} {args}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_session(tmp_path_factory.mktemp("hashseed") / "mixed.jsonl")


@pytest.fixture(scope="module")
def in_process_hash(session: Path) -> str:
    log = [
        Recorded(seq, new.event_id, new.occurred_at, INGESTED_AT, new.event)
        for seq, new in enumerate(read_session(session), start=1)
    ]
    state = fold(log)
    assert len(state.tracks) >= 30, "the session should keep a large library"
    assert state.ignored > 0 and state.seq == len(log) == 400
    return state_hash(state)


def test_fold_gives_the_same_hash_under_every_hash_seed(
    session: Path, in_process_hash: str, tmp_path: Path
) -> None:
    hashes = {
        seed: _python(seed, "-c", FOLD_SCRIPT, str(session), str(INGESTED_AT), cwd=tmp_path).strip()
        for seed in SEEDS
    }
    assert set(hashes.values()) == {in_process_hash}, hashes


def test_cli_replay_gives_the_same_hash_under_every_hash_seed(
    session: Path, in_process_hash: str, tmp_path: Path
) -> None:
    db = tmp_path / "seeded.db"
    # ingest under one seed (in a subprocess), replay under others
    _python("12345", "-m", "adapters.cli", "--db", str(db), "ingest", str(session), cwd=tmp_path)
    hashes = {
        seed: printed_hash(
            _python(seed, "-m", "adapters.cli", "--db", str(db), "replay", cwd=tmp_path)
        )
        for seed in ("0", "1")
    }
    hashes["in-process state"] = printed_hash(run("--db", str(db), "state"))
    assert set(hashes.values()) == {in_process_hash}, hashes
