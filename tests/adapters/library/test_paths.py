"""Safety: symlinks stay inside the root, loops end, hidden/temp/non-audio files are left out,
and odd names survive the whole way into the SQLite log and back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.library.index import LibraryIndex
from adapters.library.paths import ignored, relative, wanted
from domain.events import TrackAdded
from storage.projector import load_state
from storage.sqlite_log import open_sqlite_log
from tests.adapters.library.conftest import scan_once
from tests.support.audio import write_audio
from tests.support.clock import FixedClock

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.wav",
        "song.flac.part",
        "song.mp3.crdownload",
        "song.wav~",
        ".song.wav.swp",
        "song.swp",
        "#song.wav#",
        "song.flac.tmp",
        "cover.jpg",
        "notes.txt",
        "noext",
    ],
)
def test_names_the_library_leaves_out(name: str) -> None:
    assert not wanted(name)


@pytest.mark.parametrize(
    "name", ["a.wav", "B.FLAC", "c.ogg", "d.oga", "e.opus", "f.mp3", "g.aiff", "h.aif", "i.m4a"]
)
def test_audio_names_are_listed(name: str) -> None:
    assert wanted(name) and not ignored(name)


def test_relative_paths_are_posix_and_never_escape(tmp_path: Path) -> None:
    assert relative(tmp_path, tmp_path / "a" / "b c.wav") == "a/b c.wav"
    assert relative(tmp_path, tmp_path) == ""
    assert relative(tmp_path, tmp_path.parent / "x.wav") is None


async def test_symlink_loops_and_links_out_of_the_root_are_not_followed(
    library: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    write_audio(outside / "elsewhere.wav")
    write_audio(library / "a" / "in.wav")
    os.symlink(library, library / "a" / "loop")  # a loop back to the root
    os.symlink(library / "a", library / "a" / "self")  # a loop to its own folder
    os.symlink(outside, library / "escape")  # a folder out of the root
    os.symlink(outside / "elsewhere.wav", library / "escape.wav")  # a file out of the root
    os.symlink(library / "a" / "in.wav", library / "alias.wav")  # a file inside: fine
    result = await scan_once(library, LibraryIndex())
    paths = sorted(e.event.path for e in result.events)  # type: ignore[union-attr]
    assert paths == ["a/in.wav", "alias.wav"]
    assert result.stats.unsafe_links == 4


async def test_hidden_folders_and_temp_files_are_ignored(library: Path) -> None:
    write_audio(library / ".trash" / "old.wav")
    write_audio(library / "a.wav")
    (library / "b.flac.part").write_bytes(b"partial")
    (library / "cover.jpg").write_bytes(b"jpeg")
    result = await scan_once(library, LibraryIndex())
    assert [e.event.path for e in result.events] == ["a.wav"]  # type: ignore[union-attr]
    assert result.stats.ignored == 3


async def test_odd_names_work_end_to_end_through_the_log(library: Path, tmp_path: Path) -> None:
    names = ["with space.wav", "ünïcødé ♫/日本語.flac", "new\nline.wav", "tab\tand 'quotes\".wav"]
    for i, name in enumerate(names):
        write_audio(library / name, seed=i)
    result = await scan_once(library, LibraryIndex())
    assert sorted(e.event.path for e in result.events) == sorted(names)  # type: ignore[union-attr]
    clock = FixedClock()
    async with open_sqlite_log(tmp_path / "log.db", clock=clock, create=True, migrate=True) as log:
        await log.events.append(result.events)
        state = (await load_state(log.events, log.snapshots)).state
    assert sorted(t.path for t in state.tracks.values()) == sorted(names)
    for track in state.tracks.values():
        assert (library / track.path).is_file()
    again = await scan_once(library, state)
    assert again.events == [] and all(isinstance(e.event, TrackAdded) for e in result.events)


def write_bytes_named(folder: Path, name: bytes) -> bool:
    try:
        with open(os.path.join(os.fsencode(folder), name), "wb") as f:
            f.write(b"RIFF")
    except OSError:
        return False
    return True


async def test_a_name_that_is_not_utf8_is_counted_not_stored(library: Path) -> None:
    if not write_bytes_named(library, b"bad\xff.wav"):
        pytest.skip("the file system refuses non-UTF-8 names")
    write_audio(library / "good.wav")
    result = await scan_once(library, LibraryIndex())
    assert [e.event.path for e in result.events] == ["good.wav"]  # type: ignore[union-attr]
    assert result.stats.bad_names == 1
