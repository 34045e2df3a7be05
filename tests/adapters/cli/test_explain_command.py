"""`tierbuffer explain`: a chunk's story from the log, by index in the playing track or by key,
as text or JSON; bad input is one line and exit 2 (a track id with control characters:
tests/adapters/cli/test_hostile_input.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.cli import main

T0 = 1_700_000_000_000  # in the past: no event is dated after its ingest
FINGERPRINT = {"size": 1000, "mtime_ns": 1, "content_hash": "ab"}


def _key(track: str, index: int) -> dict[str, Any]:
    return {"track": track, "revision": 0, "preset": "warm", "intensity_tenths": 5, "index": index}


def _session(track: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "TrackAdded",
            "at": T0,
            "track": track,
            "path": "t1.flac",
            "fingerprint": FINGERPRINT,
            "duration_ms": 300_000,
            "sample_rate": 44100,
            "channels": 2,
        },
        {"type": "TrackChanged", "at": T0 + 1000, "track": track},
        {"type": "PresetChanged", "at": T0 + 2000, "preset": "warm"},
        {"type": "ChunkRequested", "at": T0 + 4000, "key": _key(track, 0)},
        {"type": "ChunkFailed", "at": T0 + 5000, "key": _key(track, 0), "reason": "timeout"},
        {
            "type": "ChunkRendered",
            "at": T0 + 16_000,
            "key": _key(track, 0),
            "path": "t1/x0.flac",
            "bytes": 3_000_000,
            "checksum": "sha256:00",
            "frames": 1,
            "render_ms": 2400,
        },
    ]


def _db(tmp_path: Path, track: str = "t1") -> Path:
    session = tmp_path / "session.jsonl"
    session.write_text("\n".join(json.dumps(line) for line in _session(track)) + "\n")
    db = tmp_path / "explain.db"
    assert main(["--db", str(db), "ingest", str(session)]) == 0
    return db


def test_the_story_of_the_playing_tracks_chunk_by_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _db(tmp_path)
    capsys.readouterr()
    assert main(["--db", str(db), "explain", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chunk t1/0/warm/5/0\n")
    told = [line.strip() for line in out.splitlines()]
    assert "asked for by the player: a miss, the player waits on it" in told
    assert any(line.startswith("failed (timeout): attempt 1 of 3; tried again") for line in told)
    assert any(line.startswith("rendered: held in L1 (3000000 bytes") for line in told)
    assert told[-1] == "now (sequence 6): ready in L1 (probability 1.0)"


def test_json_by_key_holds_every_step_and_the_standing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _db(tmp_path)
    capsys.readouterr()
    assert main(["--db", str(db), "explain", "t1/0/warm/5/0", "--json"]) == 0
    explained = json.loads(capsys.readouterr().out)
    assert explained["key"] == _key("t1", 0)
    assert [s["type"] for s in explained["steps"]] == [
        "TrackChanged",
        "PresetChanged",
        "ChunkRequested",
        "ChunkFailed",
        "ChunkRendered",
    ]
    assert explained["now"]["held"] == "L1" and explained["omitted"] == 0
    assert main(["--db", str(db), "explain", "t1/0/warm/5/0", "--since", "4", "--json"]) == 0
    later = json.loads(capsys.readouterr().out)
    assert [s["seq"] for s in later["steps"]] == [5, 6]
    assert main(["--db", str(db), "explain", "0", "--since", str(2**70), "--json"]) == 0
    beyond = json.loads(capsys.readouterr().out)
    assert (beyond["after"], beyond["steps"], beyond["now"]["held"]) == (6, [], "L1")


@pytest.mark.parametrize(
    ("chunk", "said"),
    [
        ("99", "nothing is playing, or the track has no chunk 99"),
        ("t1/0/warm", "not an index or TRACK/REVISION/PRESET/INTENSITY_TENTHS/INDEX"),
        ("t1/0/loud/5/0", "not a chunk key"),
        ("t1/0/warm/11/0", "not a chunk key"),
        ("-1", "not an index"),
    ],
)
def test_a_bad_chunk_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], chunk: str, said: str
) -> None:
    db = _db(tmp_path)
    capsys.readouterr()
    code = _exit_code(["--db", str(db), "explain", chunk])
    err = capsys.readouterr().err
    assert code == 2
    assert said in err and len(err.strip().splitlines()) == 1


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse's own errors
        return int(e.code or 0)
