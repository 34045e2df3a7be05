"""Tamper detection: rows altered, removed or reordered behind tierbuffer's back, and bad snapshots.

The log is changed with sqlite3 directly on the file; `verify` (the function and the CLI) must fail
naming the first bad sequence number, and start-up must skip snapshots that do not check out.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable
from pathlib import Path

import anyio
import msgspec
import pytest

from adapters.bootstrap import open_log
from adapters.cli import main
from domain.projection import fold
from domain.state import PROJECTION_VERSION, State, hash_bytes, state_hash
from storage.chain import first_break, row_hash
from storage.memory_store import InMemoryEventStore
from storage.projector import load_state, replay, verify
from storage.snapshots import InMemorySnapshotStore
from storage.sqlite_store import SqliteEventStore
from tests.support.clock import FixedClock
from tests.support.events import mixed_events, sqlite_exec, sqlite_rows

_SWAP_COLUMNS = ("event_id", "type", "version", "occurred_at", "recorded_at", "track", "payload")


def alter_payload(db: Path, seq: int) -> None:
    (payload,) = sqlite_rows(db, "SELECT payload FROM events WHERE seq = ?", (seq,))[0]
    replacement = b'{"type":"Paused"}' if payload != b'{"type":"Paused"}' else b'{"type":"Stopped"}'
    connection = sqlite3.connect(db)
    with connection:
        connection.execute("UPDATE events SET payload = ? WHERE seq = ?", (replacement, seq))
    connection.close()


def alter_occurred_at(db: Path, seq: int) -> None:
    sqlite_exec(db, f"UPDATE events SET occurred_at = occurred_at + 1 WHERE seq = {seq}")


def delete_row(db: Path, seq: int) -> None:
    sqlite_exec(db, f"DELETE FROM events WHERE seq = {seq}")


def swap_contents(db: Path, seq: int, other: int | None = None) -> None:
    """Exchange every column but seq (and the hash, left in place) of two rows."""
    other = seq + 1 if other is None else other
    a, b = (
        sqlite_rows(db, f"SELECT {', '.join(_SWAP_COLUMNS)} FROM events WHERE seq = ?", (s,))[0]
        for s in (seq, other)
    )
    assert a != b
    assignments = ", ".join(f"{column} = ?" for column in _SWAP_COLUMNS)
    connection = sqlite3.connect(db, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        # event_id is unique: park one row's id first.
        connection.execute("UPDATE events SET event_id = 'parked' WHERE seq = ?", (seq,))
        connection.execute(f"UPDATE events SET {assignments} WHERE seq = ?", (*a, other))
        connection.execute(f"UPDATE events SET {assignments} WHERE seq = ?", (*b, seq))
        connection.execute("COMMIT")
    finally:
        connection.close()


def swap_seqs(db: Path, seq: int) -> None:
    """Reorder two neighbouring rows by exchanging their sequence numbers."""
    sqlite_exec(
        db,
        f"UPDATE events SET seq = -1 WHERE seq = {seq}",
        f"UPDATE events SET seq = {seq} WHERE seq = {seq + 1}",
        f"UPDATE events SET seq = {seq + 1} WHERE seq = -1",
    )


def alter_and_rehash(db: Path, seq: int) -> None:
    """Alter a row and recompute its own hash: the break moves to its successor, it cannot hide."""
    alter_occurred_at(db, seq)
    rehash(db, seq)


def rehash(db: Path, seq: int) -> None:
    """Recompute one row's own chain hash after it was altered."""

    async def rows() -> list:  # type: ignore[type-arg]
        store = await SqliteEventStore.open(db, clock=FixedClock(), create=False, migrate=False)
        try:
            return list(store.iter_rows())
        finally:
            await store.aclose()

    all_rows = anyio.run(rows, backend="asyncio")
    fixed = row_hash(all_rows[seq - 2].hash, all_rows[seq - 1])
    sqlite_exec(db, f"UPDATE events SET hash = '{fixed}' WHERE seq = {seq}")


TAMPERS: dict[str, tuple[Callable[[Path, int], None], int, int]] = {
    # name: (tamper, row it touches, first sequence number verify must name)
    "payload-altered": (alter_payload, 120, 120),
    "occurred-at-altered": (alter_occurred_at, 77, 77),
    "row-deleted": (delete_row, 150, 150),
    "contents-swapped": (swap_contents, 40, 40),
    "rows-reordered": (swap_seqs, 200, 200),
    "first-row-altered": (alter_payload, 1, 1),
    "last-row-altered": (alter_occurred_at, 300, 300),
    "altered-and-rehashed": (alter_and_rehash, 90, 91),
}


@pytest.fixture(params=sorted(TAMPERS))
def tampered(request: pytest.FixtureRequest, populated_db: Path) -> tuple[Path, int]:
    tamper, seq, first_bad = TAMPERS[str(request.param)]
    tamper(populated_db, seq)
    return populated_db, first_bad


@pytest.mark.anyio
async def test_verify_names_the_first_bad_row(tampered: tuple[Path, int]) -> None:
    db, first_bad = tampered
    async with open_log(db, clock=FixedClock(), create=False, migrate=False) as log:
        report = await verify(log.events, log.snapshots)
        chain = first_break(log.events.iter_rows())
    assert not report.ok
    assert report.chain_break is not None
    assert report.chain_break.seq == first_bad
    assert chain is not None and chain.seq == first_bad
    assert report.events == first_bad - 1


def test_cli_verify_fails_with_exit_1_naming_the_row(
    tampered: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    db, first_bad = tampered
    assert main(["--db", str(db), "verify"]) == 1
    out = capsys.readouterr().out
    assert f"FAILED at sequence {first_bad}:" in out
    assert "ok:" not in out


def test_cli_verify_passes_on_the_intact_log(
    populated_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(populated_db), "verify"]) == 0
    verified = capsys.readouterr().out
    assert "ok: 300 events" in verified
    assert main(["--db", str(populated_db), "replay"]) == 0
    replayed = capsys.readouterr().out
    hash_lines = [line for line in verified.splitlines() if line.startswith("state-hash: ")]
    assert len(hash_lines) == 1
    assert hash_lines[0] in replayed.splitlines()


@pytest.mark.anyio
async def test_verify_on_the_in_memory_store_finds_a_tampered_row() -> None:
    clock = FixedClock()
    events = InMemoryEventStore(clock=clock)
    await events.append(mixed_events(50))
    snapshots = InMemorySnapshotStore()
    assert (await verify(events, snapshots)).ok
    row = list(events.iter_rows())[22]
    events.tamper(23, msgspec.structs.replace(row, occurred_at=row.occurred_at + 1))
    report = await verify(events, snapshots)
    assert report.chain_break is not None and report.chain_break.seq == 23


# --- snapshots ------------------------------------------------------------------------------


async def _snapshot_at(db: Path, *seqs: int) -> State:
    """Write snapshots of the state at each sequence number; return the full replay."""
    async with open_log(db, clock=FixedClock(), create=False, migrate=False) as log:
        for seq in seqs:
            state = fold(itertools.islice(log.events.iter_recorded(), seq), State())
            assert state.seq == seq
            await log.snapshots.save(state, created_at=seq)
        return await replay(log.events)


def _corrupt_snapshot_bytes(db: Path, seq: int) -> None:
    (data,) = sqlite_rows(db, "SELECT state FROM snapshots WHERE seq = ?", (seq,))[0]
    altered = bytes(data).replace(b'"ignored":', b'"ignored":1', 1)
    assert altered != bytes(data)
    connection = sqlite3.connect(db)
    with connection:
        connection.execute("UPDATE snapshots SET state = ? WHERE seq = ?", (altered, seq))
    connection.close()


@pytest.mark.anyio
async def test_an_altered_snapshot_is_skipped_with_a_reason_and_verify_reports_it(
    populated_db: Path,
) -> None:
    full = await _snapshot_at(populated_db, 200)
    _corrupt_snapshot_bytes(populated_db, 200)
    async with open_log(populated_db, clock=FixedClock(), create=False, migrate=False) as log:
        loaded = await load_state(log.events, log.snapshots)
        report = await verify(log.events, log.snapshots)
    assert loaded.snapshot_seq is None
    assert [s.seq for s in loaded.skipped] == [200]
    assert "hash" in loaded.skipped[0].reason
    assert loaded.state == full
    assert state_hash(loaded.state) == state_hash(full)
    assert loaded.replayed == 300

    assert report.chain_break is None
    assert not report.ok
    assert [m.seq for m in report.snapshot_mismatches] == [200]


def test_cli_on_an_altered_snapshot(populated_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    anyio.run(_snapshot_at, populated_db, 200, backend="asyncio")
    _corrupt_snapshot_bytes(populated_db, 200)
    assert main(["--db", str(populated_db), "verify"]) == 1
    assert "FAILED: snapshot" in capsys.readouterr().out
    assert main(["--db", str(populated_db), "state"]) == 0
    state_out = capsys.readouterr().out
    assert "warning: snapshot" in state_out and "skipped" in state_out
    assert main(["--db", str(populated_db), "replay"]) == 0
    replay_out = capsys.readouterr().out
    hashes = [
        line for line in (state_out + replay_out).splitlines() if line.startswith("state-hash: ")
    ]
    assert len(hashes) == 2 and hashes[0] == hashes[1]


@pytest.mark.anyio
async def test_the_newest_good_snapshot_is_used_when_a_newer_one_is_bad(
    populated_db: Path,
) -> None:
    full = await _snapshot_at(populated_db, 100, 250)
    _corrupt_snapshot_bytes(populated_db, 250)
    async with open_log(populated_db, clock=FixedClock(), create=False, migrate=False) as log:
        loaded = await load_state(log.events, log.snapshots)
    assert loaded.snapshot_seq == 100
    assert loaded.replayed == 200
    assert [s.seq for s in loaded.skipped] == [250]
    assert loaded.state == full


@pytest.mark.anyio
async def test_a_snapshot_of_another_projection_version_is_skipped(populated_db: Path) -> None:
    full = await _snapshot_at(populated_db, 200)
    sqlite_exec(populated_db, f"UPDATE snapshots SET projection_version = {PROJECTION_VERSION + 1}")
    async with open_log(populated_db, clock=FixedClock(), create=False, migrate=False) as log:
        loaded = await load_state(log.events, log.snapshots)
        report = await verify(log.events, log.snapshots)
    assert loaded.snapshot_seq is None
    assert [s.seq for s in loaded.skipped] == [200]
    assert f"v{PROJECTION_VERSION + 1}" in loaded.skipped[0].reason
    assert loaded.state == full
    # Not an error of the log: verify notes it and still passes.
    assert report.ok
    assert [s.seq for s in report.stale_snapshots] == [200]


@pytest.mark.anyio
async def test_a_consistent_but_wrong_snapshot_is_caught_by_verify(populated_db: Path) -> None:
    """Bytes and stored hash both rewritten: start-up cannot tell, verify's replay can."""
    await _snapshot_at(populated_db, 200)
    _corrupt_snapshot_bytes(populated_db, 200)
    (data,) = sqlite_rows(populated_db, "SELECT state FROM snapshots")[0]
    sqlite_exec(populated_db, f"UPDATE snapshots SET state_hash = '{hash_bytes(bytes(data))}'")
    async with open_log(populated_db, clock=FixedClock(), create=False, migrate=False) as log:
        report = await verify(log.events, log.snapshots)
    assert report.chain_break is None
    assert [(m.seq, m.reason) for m in report.snapshot_mismatches] == [
        (200, "differs from a fresh replay")
    ]


@pytest.mark.anyio
async def test_a_log_cut_short_behind_a_snapshot_is_noticed(populated_db: Path) -> None:
    """Removing the tail keeps the chain valid; the snapshot taken further on gives it away."""
    await _snapshot_at(populated_db, 250)
    sqlite_exec(populated_db, "DELETE FROM events WHERE seq > 200")
    async with open_log(populated_db, clock=FixedClock(), create=False, migrate=False) as log:
        loaded = await load_state(log.events, log.snapshots)
        report = await verify(log.events, log.snapshots)
    assert loaded.state.seq == 200
    assert [s.seq for s in loaded.skipped] == [250]
    assert "beyond the end" in loaded.skipped[0].reason
    assert report.chain_break is None
    assert not report.ok
    assert [m.seq for m in report.snapshot_mismatches] == [250]


def test_a_payload_rehashed_to_another_type_is_named_at_its_own_row(populated_db: Path) -> None:
    """The chain alone names the successor; decoding catches the type mismatch at the row."""
    alter_payload(populated_db, 90)
    rehash(populated_db, 90)

    async def check() -> None:
        async with open_log(populated_db, clock=FixedClock(), create=False, migrate=False) as log:
            report = await verify(log.events, log.snapshots)
            chain = first_break(log.events.iter_rows())
        assert chain is not None and chain.seq == 91
        assert report.chain_break is not None
        assert report.chain_break.seq == 90
        assert "payload" in report.chain_break.reason

    anyio.run(check, backend="asyncio")
