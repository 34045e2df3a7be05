"""Golden replay: each checked-in session replays, through the CLI, to its recorded state hash.

The expected hashes live in tests/domain/golden/expected.json. When the projection changes on
purpose (and PROJECTION_VERSION was bumped), regenerate them with
tests/domain/golden/regenerate.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from adapters.ingest import read_session
from domain.events import Recorded
from domain.projection import fold
from domain.state import PROJECTION_VERSION, state_hash
from tests.domain.golden.regenerate import fixtures, load_expected, printed_hash, run

FIXTURES = fixtures()
REGENERATE = ".venv/bin/python tests/domain/golden/regenerate.py"
#: When the in-memory folds say the sessions were recorded: a week after they happened.
INGESTED_AT = 1_796_000_000_000


def _mismatch(name: str, how: str, got: str, want: str) -> str:
    recorded = load_expected().projection_version
    if recorded == PROJECTION_VERSION:
        advice = (
            f"PROJECTION_VERSION is still {PROJECTION_VERSION}, the version this hash was recorded "
            "at. If the projection changed ON PURPOSE, bump PROJECTION_VERSION in "
            f"domain/state.py, then run `{REGENERATE}` and commit "
            "tests/domain/golden/expected.json; "
            "otherwise the fold is no longer deterministic or a rule changed by accident."
        )
    else:
        advice = (
            f"PROJECTION_VERSION went from {recorded} to {PROJECTION_VERSION}: run `{REGENERATE}` "
            "and commit tests/domain/golden/expected.json."
        )
    return f"golden session {name!r} ({how}) folds to state hash {got}, expected {want}.\n{advice}"


def test_every_session_has_an_expected_hash_and_no_more() -> None:
    assert FIXTURES, "no golden sessions found in tests/domain/golden/"
    assert sorted(load_expected().hashes) == sorted(FIXTURES), (
        f"tests/domain/golden/expected.json and the *.jsonl sessions disagree; run `{REGENERATE}`"
    )


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_session_replays_to_its_golden_hash(name: str, tmp_path: Path) -> None:
    want = load_expected().hashes[name]
    db = str(tmp_path / "golden.db")
    assert "appended" in run("--db", db, "ingest", str(FIXTURES[name]))

    replayed = printed_hash(run("--db", db, "replay"))
    assert replayed == want, _mismatch(name, "tierbuffer replay", replayed, want)
    shown = printed_hash(run("--db", db, "state"))
    assert shown == want, _mismatch(name, "tierbuffer state", shown, want)
    as_json = json.loads(run("--db", db, "state", "--json"))["state_hash"]
    assert as_json == want, _mismatch(name, "state --json", as_json, want)
    verified = printed_hash(run("--db", db, "verify"))
    assert verified == want, _mismatch(name, "verify", verified, want)

    # ingesting the same file again appends nothing and changes nothing
    assert run("--db", db, "ingest", str(FIXTURES[name])).startswith("appended 0 events")
    again = printed_hash(run("--db", db, "replay"))
    assert again == want, _mismatch(name, "replay after re-ingest", again, want)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_session_from_a_snapshot_plus_tail_has_the_golden_hash(name: str, tmp_path: Path) -> None:
    """Ingest the first half with a snapshot, then the rest: `state` starts from the snapshot."""
    want = load_expected().hashes[name]
    lines = FIXTURES[name].read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    head, tail = tmp_path / "head.jsonl", tmp_path / "tail.jsonl"
    head.write_bytes(b"".join(lines[:half]))
    tail.write_bytes(b"".join(lines[half:]))
    db = str(tmp_path / "split.db")

    first = run("--db", db, "ingest", "--snapshot-every", "1", str(head))
    assert "snapshot written at sequence" in first
    run("--db", db, "ingest", str(tail))  # default interval: no second snapshot

    shown = run("--db", db, "state")
    assert "warning" not in shown
    from_snapshot = printed_hash(shown)
    assert from_snapshot == want, _mismatch(name, "snapshot + tail", from_snapshot, want)
    replayed = printed_hash(run("--db", db, "replay"))
    assert replayed == want, _mismatch(name, "replay of the split ingest", replayed, want)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_session_folded_in_memory_has_the_golden_hash(name: str) -> None:
    """The store adds nothing to the state but its recorded-at times, and a session ingested
    after it happened is timed by its own times (`domain.timing`): a plain fold of the parsed
    session, recorded at any later moment, agrees."""
    want = load_expected().hashes[name]
    for ingested_at in (INGESTED_AT, INGESTED_AT + 86_400_000):
        log = [
            Recorded(seq, new.event_id, new.occurred_at, ingested_at, new.event)
            for seq, new in enumerate(read_session(FIXTURES[name]), start=1)
        ]
        got = state_hash(fold(log))
        assert got == want, _mismatch(name, "in-memory fold", got, want)


def test_basic_session_reads_as_a_listening_session() -> None:
    """Sanity of the fixture itself, through the public state: what a listener would see."""
    log = [
        Recorded(seq, new.event_id, new.occurred_at, INGESTED_AT, new.event)
        for seq, new in enumerate(read_session(FIXTURES["session_basic"]), start=1)
    ]
    state = fold(log)
    assert sorted(state.tracks) == ["coda", "drive", "voices"]
    assert state.tracks["coda"].revision == 1
    assert state.tracks["voices"].path == "Albums/Road (2026)/05 Voices.ogg"
    playback = msgspec.to_builtins(state.playback)
    assert {k: playback[k] for k in ("track", "status", "position_ms", "preset")} == {
        "track": "drive",
        "status": "paused",
        "position_ms": 102_000,  # reported 72 s at 09:25:00, paused 30 s later
        "preset": "adaptive",
    }
    assert state.playback.intensity_tenths == 0
    assert state.seq == len(log) == 62


def test_regenerate_refuses_changed_hashes_without_a_version_bump() -> None:
    from tests.domain.golden.regenerate import Expected, changed_without_bump

    old = Expected(PROJECTION_VERSION, {"a": "1", "b": "2"})
    assert changed_without_bump(old, {"a": "1", "b": "2", "new": "3"}) == []
    assert changed_without_bump(old, {"a": "9", "b": "2"}) == ["a"]
    bumped = Expected(PROJECTION_VERSION - 1, {"a": "1"})
    assert changed_without_bump(bumped, {"a": "9"}) == []
