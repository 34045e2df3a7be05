"""The watcher on a real folder with a real watchdog observer."""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from adapters.ids import UuidV7Source
from adapters.library.index import LibraryIndex
from adapters.library.watch import LibraryWatcher
from domain.events import (
    DomainEvent,
    NewEvent,
    TrackAdded,
    TrackDeleted,
    TrackModified,
    TrackMoved,
)
from domain.state import State
from tests.adapters.library.conftest import DEADLINE_S, Collected, kinds, scan_once, watching
from tests.support.audio import rewrite_same_size, write_audio
from tests.support.clock import FixedClock

pytestmark = pytest.mark.anyio


def count(kind: type[DomainEvent], n: int = 1):  # type: ignore[no-untyped-def]
    return lambda events: sum(isinstance(e, kind) for e in events) >= n


async def test_create_modify_rewrite_and_delete_become_events(library: Path) -> None:
    (library / "notes.txt").write_text("not audio")  # the folder never looks unmounted
    async with watching(library, State()) as (_, got):
        path = write_audio(library / "song.wav", seed=1)
        (added,) = await got.until(count(TrackAdded))
        assert isinstance(added, TrackAdded) and added.path == "song.wav"
        got.clear()
        write_audio(path, seconds=0.4, seed=2)  # modified in place, new size
        (modified,) = await got.until(count(TrackModified))
        assert isinstance(modified, TrackModified) and modified.track == added.track
        assert modified.duration_ms == 400
        got.clear()
        write_audio(path, seconds=0.4, seed=3)  # same size, new content
        (rewritten,) = await got.until(count(TrackModified))
        assert isinstance(rewritten, TrackModified)
        assert rewritten.fingerprint.content_hash != modified.fingerprint.content_hash
        got.clear()
        path.unlink()
        assert await got.until(count(TrackDeleted)) == [TrackDeleted(added.track)]


async def test_moves_keep_the_track_and_moving_out_deletes_it(
    library: Path, tmp_path: Path
) -> None:
    write_audio(library / "a" / "one.wav", seed=1)
    write_audio(library / "a" / "two.wav", seed=2)
    index = LibraryIndex()
    await scan_once(library, index)
    one, two = index.tracks["a/one.wav"].track, index.tracks["a/two.wav"].track
    async with watching(library, index) as (_, got):
        os.rename(library / "a" / "one.wav", library / "a" / "uno.wav")
        assert await got.until(count(TrackMoved)) == [TrackMoved(one, "a/uno.wav")]
        got.clear()
        os.rename(library / "a", library / "album")  # a folder move: every track keeps its id
        moved = await got.until(count(TrackMoved, 2))
        assert sorted(moved, key=str) == sorted(
            [TrackMoved(one, "album/uno.wav"), TrackMoved(two, "album/two.wav")], key=str
        )
        got.clear()
        shutil.move(library / "album" / "two.wav", tmp_path / "two.wav")
        assert await got.until(count(TrackDeleted)) == [TrackDeleted(two)]


async def test_an_editor_style_save_is_one_modification(library: Path) -> None:
    path = write_audio(library / "song.flac", seed=1)
    index = LibraryIndex()
    await scan_once(library, index)
    async with watching(library, index) as (_, got):
        swap = library / ".song.flac.swp"
        swap.write_bytes(b"swap")
        temp = write_audio(library / "song.flac.tmp", seconds=0.3, seed=2, fmt="FLAC")
        os.replace(temp, path)
        swap.unlink()
        events = await got.until(count(TrackModified))
        write_audio(library / "marker.wav", seed=9)  # a later event proves nothing else came
        events = await got.until(count(TrackAdded))
    assert kinds(events) == ["TrackModified", "TrackAdded"]


async def test_a_burst_of_2000_files_is_coalesced_into_few_batches(library: Path) -> None:
    template = write_audio(library.parent / "template.wav")
    async with watching(library, State()) as (watcher, got):
        for folder in range(20):
            target = library / f"album {folder:02}"
            target.mkdir()
            for i in range(100):
                shutil.copyfile(template, target / f"track {i:03}.wav")
        events = await got.until(count(TrackAdded, 2000), deadline_s=30)
        assert len(events) == 2000 and len({e.track for e in events}) == 2000  # type: ignore[union-attr]
        assert len(got.batches) <= 20, [len(b) for b in got.batches]


async def test_the_library_folder_removed_and_recreated(library: Path) -> None:
    write_audio(library / "old.wav", seed=1)
    index = LibraryIndex()
    await scan_once(library, index)
    async with watching(library, index) as (watcher, got):
        shutil.rmtree(library)  # nothing is emitted for a missing root (an unmounted disk)
        os.mkdir(library)
        write_audio(library / "new.wav", seed=2)
        events = await got.until(lambda es: count(TrackAdded)(es) and count(TrackDeleted)(es))
        assert sorted(kinds(events)) == ["TrackAdded", "TrackDeleted"]
        assert watcher.status.mode == "watching"
        got.clear()
        write_audio(library / "after.wav", seed=3)  # the new folder is watched too
        (added,) = await got.until(count(TrackAdded))
        assert isinstance(added, TrackAdded) and added.path == "after.wav"


async def test_changes_made_while_stopped_are_delivered_by_the_first_scan(library: Path) -> None:
    write_audio(library / "keep.wav", seed=1)
    write_audio(library / "gone.wav", seed=2)
    index = LibraryIndex()
    await scan_once(library, index)
    (library / "gone.wav").unlink()
    rewrite_same_size(library / "keep.wav", seed=3)
    write_audio(library / "new.wav", seed=4)
    async with watching(library, index) as (_, got):
        assert sorted(kinds(got.events)) == ["TrackAdded", "TrackDeleted", "TrackModified"]


class LimitedObserver(Observer):  # type: ignore[misc,valid-type]
    """A real observer on a system whose inotify watch limit is already used up."""

    def schedule(self, *args: object, **kwargs: object) -> ObservedWatch:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")


async def test_the_watch_limit_is_reported_and_periodic_scans_take_over(
    library: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with watching(library, State(), observer_factory=LimitedObserver, poll_every_s=0.1) as (
        watcher,
        got,
    ):
        assert watcher.status.mode == "polling"
        assert "max_user_watches" in watcher.status.detail
        write_audio(library / "song.wav")
        (added,) = await got.until(count(TrackAdded))
    assert any("inotify" in r.getMessage() for r in caplog.records)


async def test_the_watcher_is_ready_before_its_first_scan_and_tells_how_far_it_got(
    library: Path,
) -> None:
    for n in range(300):
        write_audio(library / f"d{n % 7}" / f"t{n}.wav", seed=n)
    seen: list[tuple[str, str]] = []
    collected = Collected()

    async def slow(events: Sequence[NewEvent]) -> None:
        seen.append((watcher.status.mode, watcher.status.detail))
        await collected.deliver(events)

    watcher = LibraryWatcher(library, State(), slow, now_ms=FixedClock(), new_id=UuidV7Source())
    async with anyio.create_task_group() as tg:
        await tg.start(watcher.run)
        assert not watcher.scanned.is_set()  # ready before the scan
        with anyio.fail_after(DEADLINE_S):
            await watcher.scanned.wait()
        tg.cancel_scope.cancel()
    assert len(collected.events) == 300 and len(seen) >= 2  # delivered in slices, as it went
    assert seen[0][0] == "scanning" and " of 300 files" in seen[0][1]
    assert watcher.status.mode == "watching"


async def _until_logged(caplog: pytest.LogCaptureFixture, needle: str) -> logging.LogRecord:
    with anyio.fail_after(10):
        while True:
            for record in caplog.records:
                if needle in record.getMessage():
                    return record
            await anyio.sleep(0.02)


async def test_a_library_folder_that_goes_away_is_an_error_that_says_what_happens(
    library: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_audio(library / "kept.wav", seed=1)
    index = LibraryIndex()
    await scan_once(library, index)
    async with watching(library, index) as (watcher, got):
        shutil.rmtree(library)
        record = await _until_logged(caplog, "is missing (unmounted, moved or deleted): its")
        assert record.levelno == logging.ERROR
        assert "1 tracks stay in the log and nothing is scanned or deleted" in record.getMessage()
        assert watcher.status.mode == "waiting"
        assert got.events == []


async def test_an_unreadable_library_folder_deletes_nothing(
    library: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder that cannot be listed looks empty: scanning it would delete every track."""
    caplog.set_level(logging.INFO)
    write_audio(library / "kept.wav", seed=1)
    index = LibraryIndex()
    await scan_once(library, index)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == library else real(p, m))
    async with watching(library, index, rescan_every_s=0.1) as (watcher, got):
        record = await _until_logged(caplog, "cannot be read (permission denied): its 1 tracks")
        assert record.levelno == logging.ERROR and watcher.status.mode == "waiting"
        monkeypatch.setattr(os, "access", real)
        await _until_logged(caplog, "is back: rescanning it")
        write_audio(library / "new.wav", seed=2)
        await got.until(count(TrackAdded))
        assert not [e for e in got.events if isinstance(e, TrackDeleted)]


async def test_an_empty_library_folder_while_tracks_are_known_deletes_nothing(
    library: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A mount point with its disk not mounted is an empty folder: not a library emptied."""
    write_audio(library / "a" / "kept.wav", seed=1)
    index = LibraryIndex()
    await scan_once(library, index)
    async with watching(library, index, rescan_every_s=0.1) as (watcher, got):
        shutil.rmtree(library / "a")
        record = await _until_logged(caplog, "is empty though 1 tracks are known")
        assert record.levelno == logging.ERROR and watcher.status.mode == "waiting"
        assert not [e for e in got.events if isinstance(e, TrackDeleted)]
        write_audio(library / "new.wav", seed=2)  # a file again: the folder is scanned
        events = await got.until(lambda es: count(TrackAdded)(es) and count(TrackDeleted)(es))
        assert sorted(kinds(events)) == ["TrackAdded", "TrackDeleted"]
