"""Scan against the log's state: what changed on disk becomes events, nothing else does."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from adapters.library import scan as scan_module
from adapters.library.examine import Batch, Hashed, hash_batch
from adapters.library.index import LibraryIndex
from adapters.library.scan import SLICE
from domain.events import (
    NewEvent,
    Recorded,
    TrackAdded,
    TrackDeleted,
    TrackModified,
    TrackMoved,
    TrackUnreadable,
)
from domain.projection import fold
from domain.state import State
from tests.adapters.library.conftest import kinds, scan_once
from tests.support.audio import rewrite_same_size, write_audio

pytestmark = pytest.mark.anyio


def folded(events: list[NewEvent], state: State | None = None) -> State:
    """Fold scan events into a state, as the service's projection would."""
    start = state.seq if state is not None else 0
    recorded = [
        Recorded(start + i + 1, e.event_id, e.occurred_at, e.occurred_at, e.event)
        for i, e in enumerate(events)
    ]
    return fold(recorded, state)


async def test_first_scan_adds_every_audio_file_with_its_real_properties(library: Path) -> None:
    write_audio(library / "a" / "one.wav")
    write_audio(library / "a" / "two.flac", seconds=0.5, rate=16000)
    write_audio(library / "b" / "three.ogg", seconds=0.3)
    result = await scan_once(library, State())
    added = {e.event.path: e.event for e in result.events if isinstance(e.event, TrackAdded)}
    assert sorted(added) == ["a/one.wav", "a/two.flac", "b/three.ogg"]
    assert (added["a/two.flac"].duration_ms, added["a/two.flac"].sample_rate) == (500, 16000)
    assert added["b/three.ogg"].duration_ms == 300 and added["a/one.wav"].channels == 1
    assert len({e.track for e in added.values()}) == 3
    assert result.stats.added == 3 and result.stats.files == 3


async def test_repeat_scan_reads_no_contents_and_emits_nothing(library: Path) -> None:
    for i in range(5):
        write_audio(library / f"{i}.wav", seed=i)
    index = LibraryIndex()
    await scan_once(library, index)
    again = await scan_once(library, index)
    assert again.events == []
    assert (again.stats.unchanged, again.stats.hashed, again.stats.probed) == (5, 0, 0)


async def test_changes_made_while_stopped_are_found_against_a_folded_state(library: Path) -> None:
    keep, edit, gone, move = (library / n for n in ("keep.wav", "edit.wav", "gone.wav", "m.wav"))
    for i, path in enumerate((keep, edit, gone, move)):
        write_audio(path, seed=i)
    first = await scan_once(library, State())
    state = folded(first.events)
    ids = {t.path: k for k, t in state.tracks.items()}
    # the service is down: the library changes
    rewrite_same_size(edit, seed=99)
    gone.unlink()
    (library / "sub").mkdir()
    os.rename(move, library / "sub" / "moved.wav")
    write_audio(library / "new.flac", seed=7)
    result = await scan_once(library, state)
    by_type = {type(e.event).__name__: e.event for e in result.events}
    assert sorted(kinds(result.events)) == sorted(
        ["TrackModified", "TrackDeleted", "TrackMoved", "TrackAdded"]
    )
    modified = by_type["TrackModified"]
    assert isinstance(modified, TrackModified)
    assert modified == TrackModified(
        ids["edit.wav"], "edit.wav", modified.fingerprint, 200, 8000, 1
    )
    assert by_type["TrackDeleted"] == TrackDeleted(ids["gone.wav"])
    assert by_type["TrackMoved"] == TrackMoved(ids["m.wav"], "sub/moved.wav")
    after = folded(result.events, state)
    assert sorted(t.path for t in after.tracks.values()) == [
        "edit.wav",
        "keep.wav",
        "new.flac",
        "sub/moved.wav",
    ]
    assert after.tracks[ids["edit.wav"]].revision == 1
    assert (await scan_once(library, after)).events == []


async def test_same_size_rewrite_is_caught_by_the_content_hash(library: Path) -> None:
    path = write_audio(library / "song.wav", seed=1)
    index = LibraryIndex()
    (added,) = (await scan_once(library, index)).events
    rewrite_same_size(path, seed=2)
    (modified,) = (await scan_once(library, index)).events
    assert isinstance(modified.event, TrackModified) and isinstance(added.event, TrackAdded)
    assert modified.event.track == added.event.track
    assert modified.event.fingerprint.size == added.event.fingerprint.size
    assert modified.event.fingerprint.content_hash != added.event.fingerprint.content_hash


async def test_deep_scan_catches_a_rewrite_that_kept_size_and_mtime(library: Path) -> None:
    path = write_audio(library / "song.wav", seed=1)
    index = LibraryIndex()
    await scan_once(library, index)
    before = path.stat()
    write_audio(path, seed=2)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (await scan_once(library, index)).events == []  # the fast path trusts size + mtime
    assert kinds((await scan_once(library, index, deep=True)).events) == ["TrackModified"]
    assert (await scan_once(library, index, deep=True)).events == []


async def test_move_out_of_the_library_deletes_and_moving_back_adds(
    library: Path, tmp_path: Path
) -> None:
    write_audio(library / "song.wav")
    index = LibraryIndex()
    await scan_once(library, index)
    shutil.move(library / "song.wav", tmp_path / "song.wav")
    assert kinds((await scan_once(library, index)).events) == ["TrackDeleted"]
    shutil.move(tmp_path / "song.wav", library / "song.wav")
    assert kinds((await scan_once(library, index)).events) == ["TrackAdded"]


async def test_a_move_over_an_existing_track_keeps_the_moved_identity(library: Path) -> None:
    write_audio(library / "a.wav", seed=1)
    write_audio(library / "b.wav", seed=2)
    index = LibraryIndex()
    await scan_once(library, index)
    a_id, b_id = index.tracks["a.wav"].track, index.tracks["b.wav"].track
    os.replace(library / "a.wav", library / "b.wav")
    events = [e.event for e in (await scan_once(library, index)).events]
    assert events == [TrackDeleted(b_id), TrackMoved(a_id, "b.wav")]


async def test_unreadable_files_are_recorded_once_with_their_reason(library: Path) -> None:
    (library / "album.m4a").write_bytes(b"\0\0\0\x20ftypM4A " + b"\0" * 100)
    (library / "broken.flac").write_bytes(b"fLaC" + os.urandom(3000))
    (library / "empty.wav").write_bytes(b"")
    index = LibraryIndex()
    result = await scan_once(library, index)
    reasons = {
        e.event.path: e.event.reason for e in result.events if isinstance(e.event, TrackUnreadable)
    }
    assert reasons == {"album.m4a": "unsupported", "broken.flac": "corrupt", "empty.wav": "empty"}
    assert (await scan_once(library, index)).events == []
    write_audio(library / "broken.flac")  # repaired
    assert kinds((await scan_once(library, index)).events) == ["TrackAdded"]


async def test_a_track_that_becomes_unreadable_is_deleted_and_recorded(library: Path) -> None:
    path = write_audio(library / "song.flac")
    index = LibraryIndex()
    await scan_once(library, index)
    path.write_bytes(b"fLaC" + b"\xff" * 5000)
    events = (await scan_once(library, index)).events
    assert kinds(events) == ["TrackDeleted", "TrackUnreadable"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
async def test_a_file_without_read_permission_is_recorded_as_such(library: Path) -> None:
    path = write_audio(library / "locked.wav")
    path.chmod(0)
    try:
        (event,) = (await scan_once(library, LibraryIndex())).events
    finally:
        path.chmod(0o644)
    assert isinstance(event.event, TrackUnreadable) and event.event.reason == "permission"


async def test_a_folder_that_cannot_be_listed_keeps_its_tracks(
    library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_audio(library / "kept" / "one.wav")
    write_audio(library / "kept" / "deep" / "two.wav", seed=2)
    write_audio(library / "other" / "three.wav", seed=3)
    index = LibraryIndex()
    await scan_once(library, index)
    (library / "other" / "three.wav").unlink()
    real_scandir = os.scandir
    locked = str(library / "kept")

    def scandir(path: str) -> object:  # an I/O error or a permission the root user has not
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr("adapters.library.paths.os.scandir", scandir)
    result = await scan_once(library, index)
    deleted = [e.event for e in result.events if isinstance(e.event, TrackDeleted)]
    assert len(deleted) == 1 and result.stats.deleted == 1  # other/three.wav only
    assert {"kept/one.wav", "kept/deep/two.wav"} <= set(index.tracks)
    monkeypatch.undo()
    gone = await scan_once(library, index)  # listed again: nothing changed under it
    assert gone.events == []


async def test_a_folder_that_vanished_deletes_its_tracks(library: Path) -> None:
    write_audio(library / "gone" / "one.wav")
    index = LibraryIndex()
    await scan_once(library, index)
    shutil.rmtree(library / "gone")
    result = await scan_once(library, index)
    assert [type(e.event) for e in result.events] == [TrackDeleted]


async def test_a_first_scan_delivers_its_first_tracks_before_reading_every_file(
    library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is known, so nothing can be a move: no need to fingerprint the whole library
    before the first tracks reach the log."""
    for n in range(2 * SLICE + 10):
        write_audio(library / f"{n // 100:02d}" / f"{n:04d}.wav", seconds=0.05, seed=n)
    fingerprinted: list[str] = []

    def counting(batch: Batch) -> dict[str, Hashed]:
        fingerprinted.extend(rel for rel, _ in batch.paths)
        return hash_batch(batch)

    monkeypatch.setattr(scan_module, "hash_batch", counting)
    seen_at_delivery: list[int] = []
    delivered: list[NewEvent] = []

    async def deliver(events: Sequence[NewEvent]) -> None:
        seen_at_delivery.append(len(fingerprinted))
        delivered.extend(events)

    result = await scan_once(library, State(), deliver=deliver)
    assert seen_at_delivery[0] == SLICE  # the first slice's tracks, before the rest is read
    assert len(seen_at_delivery) == 3 and sorted(fingerprinted) == sorted(set(fingerprinted))
    assert kinds(delivered) == ["TrackAdded"] * (2 * SLICE + 10) == kinds(result.events)
