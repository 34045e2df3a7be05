"""Tamper detection: rows altered, removed or reordered behind tierbuffer's back, and bad snapshots.

The log is changed with sqlite3 directly on the file; `verify` (the function and the CLI) must fail
naming the first bad sequence number, and start-up must skip snapshots that do not check out.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import msgspec
import pytest

from domain.state import PROJECTION_VERSION, hash_bytes, state_hash
from storage.chain import first_break
from storage.memory_store import InMemoryEventStore
from storage.projector import load_state, verify
from storage.snapshots import InMemorySnapshotStore
from tests.support.clock import FixedClock
from tests.support.databases import (
    alter_payload,
    corrupt_snapshot_bytes,
    opened_log,
    rehash,
    snapshot_at,
)
from tests.support.events import mixed_events, sqlite_exec, sqlite_rows


@pytest.mark.anyio
async def test_verify_names_the_first_bad_row(tampered: tuple[Path, int]) -> None:
    db, first_bad = tampered
    async with opened_log(db) as log:
        report = await verify(log.events, log.snapshots)
        chain = first_break(log.events.iter_rows())
    assert not report.ok
    assert report.chain_break is not None
    assert report.chain_break.seq == first_bad
    assert chain is not None and chain.seq == first_bad
    assert report.events == first_bad - 1


@pytest.mark.anyio
async def test_verify_on_the_in_memory_store_finds_a_tampered_row() -> None:
    clock = FixedClock()
    events = InMemoryEventStore(clock=clock)
    await events.append(mixed_events(50))
    snapshots = InMemorySnapshotStore(events)
    assert (await verify(events, snapshots)).ok
    row = list(events.iter_rows())[22]
    events.tamper(23, msgspec.structs.replace(row, occurred_at=row.occurred_at + 1))
    report = await verify(events, snapshots)
    assert report.chain_break is not None and report.chain_break.seq == 23


# --- snapshots ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_altered_snapshot_is_skipped_with_a_reason_and_verify_reports_it(
    populated_db: Path,
) -> None:
    full = await snapshot_at(populated_db, 200)
    corrupt_snapshot_bytes(populated_db, 200)
    async with opened_log(populated_db) as log:
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


@pytest.mark.anyio
async def test_the_newest_good_snapshot_is_used_when_a_newer_one_is_bad(
    populated_db: Path,
) -> None:
    full = await snapshot_at(populated_db, 100, 250)
    corrupt_snapshot_bytes(populated_db, 250)
    async with opened_log(populated_db) as log:
        loaded = await load_state(log.events, log.snapshots)
    assert loaded.snapshot_seq == 100
    assert loaded.replayed == 200
    assert [s.seq for s in loaded.skipped] == [250]
    assert loaded.state == full


@pytest.mark.anyio
async def test_a_snapshot_of_another_projection_version_is_skipped(populated_db: Path) -> None:
    full = await snapshot_at(populated_db, 200)
    sqlite_exec(populated_db, f"UPDATE snapshots SET projection_version = {PROJECTION_VERSION + 1}")
    async with opened_log(populated_db) as log:
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
    await snapshot_at(populated_db, 200)
    corrupt_snapshot_bytes(populated_db, 200)
    (data,) = sqlite_rows(populated_db, "SELECT state FROM snapshots")[0]
    sqlite_exec(populated_db, f"UPDATE snapshots SET state_hash = '{hash_bytes(bytes(data))}'")
    async with opened_log(populated_db) as log:
        report = await verify(log.events, log.snapshots)
    assert report.chain_break is None
    assert [(m.seq, m.reason) for m in report.snapshot_mismatches] == [
        (200, "differs from a fresh replay")
    ]


@pytest.mark.anyio
async def test_a_log_cut_short_behind_a_snapshot_is_noticed(populated_db: Path) -> None:
    """Removing the tail keeps the chain valid; the snapshot taken further on gives it away."""
    await snapshot_at(populated_db, 250)
    sqlite_exec(populated_db, "DELETE FROM events WHERE seq > 200")
    async with opened_log(populated_db) as log:
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
        async with opened_log(populated_db) as log:
            report = await verify(log.events, log.snapshots)
            chain = first_break(log.events.iter_rows())
        assert chain is not None and chain.seq == 91
        assert report.chain_break is not None
        assert report.chain_break.seq == 90
        assert "payload" in report.chain_break.reason

    anyio.run(check, backend="asyncio")


@pytest.mark.anyio
async def test_a_snapshot_not_bound_to_this_chain_is_skipped_everywhere_it_is_loaded(
    populated_db: Path,
) -> None:
    """A snapshot whose bytes and state hash agree, but whose chain hash is not the log's hash
    of its event (taken from another log, or the log was rewritten before it), is not used."""
    full = await snapshot_at(populated_db, 200)
    ((other,),) = sqlite_rows(populated_db, "SELECT hash FROM events WHERE seq = 199")
    connection = sqlite3.connect(populated_db)
    with connection:
        connection.execute("UPDATE snapshots SET chain_hash = ?", (other,))
    connection.close()
    async with opened_log(populated_db) as log:
        loaded = await load_state(log.events, log.snapshots)
        report = await verify(log.events, log.snapshots)
    assert loaded.snapshot_seq is None and loaded.state == full
    assert [s.seq for s in loaded.skipped] == [200]
    assert "another chain" in loaded.skipped[0].reason
    assert [(m.seq, m.reason) for m in report.snapshot_mismatches] == [
        (200, "is not bound to the chain hash of its event")
    ]


@pytest.mark.anyio
async def test_snapshots_are_bound_to_the_hash_of_their_last_event(populated_db: Path) -> None:
    await snapshot_at(populated_db, 120)
    ((bound, own),) = sqlite_rows(
        populated_db,
        "SELECT s.chain_hash, e.hash FROM snapshots s JOIN events e ON e.seq = s.seq",
    )
    assert bound == own and len(bound) == 32
    async with opened_log(populated_db) as log:
        assert (await load_state(log.events, log.snapshots)).snapshot_seq == 120
