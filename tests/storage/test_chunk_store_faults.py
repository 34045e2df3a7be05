"""The chunk store when its file system works against it: each fault is a `ChunkWriteError`
naming the fault and no absolute path, nothing half-written stays under a chunk's name, and a
deletion the file system refuses is a `False`, never an exception."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.events import ChunkKey, StoreFault
from storage.chunks import TEMP_SUFFIX, ChunkWriteError, FileChunkStore, store_fault
from tests.support.mounts import MountRefused, fill, remount, tmpfs

KEY = ChunkKey("t1", 0, "warm", 5, 2)
CHUNK = b"fLaC" + bytes(200_000)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (skipped with the reason where mounting is not allowed)."""
    try:
        with tmpfs(tmp_path / "disk", size_kib=1024) as disk:
            yield disk
    except MountRefused as e:
        pytest.skip(f"a tmpfs cannot be mounted here: {e}")


def _no_absolute_path(error: ChunkWriteError, root: Path) -> None:
    assert str(root) not in str(error)
    assert "/" not in str(error).split(" at ", 1)[0]  # the track and key say nothing of paths
    assert not Path(str(error.path)).is_absolute()


def test_a_full_disk_is_no_space_and_leaves_no_partial_file(small_disk: Path) -> None:
    store = FileChunkStore(small_disk / "chunks")
    store.write(ChunkKey("t0", 0, "warm", 5, 0), b"x")  # the folders exist
    filler = fill(small_disk, leave_kib=64)
    with pytest.raises(ChunkWriteError) as raised:
        store.write(KEY, CHUNK)
    assert raised.value.fault == "no_space"
    _no_absolute_path(raised.value, small_disk)
    assert not list(store.root.rglob("*" + TEMP_SUFFIX))
    assert not store.path_of(KEY).exists()
    filler.unlink()  # room again: the same write goes through
    assert store.write(KEY, CHUNK).bytes == len(CHUNK)


def test_a_read_only_store_is_store_read_only_even_for_root(small_disk: Path) -> None:
    store = FileChunkStore(small_disk / "chunks")
    kept = store.write(ChunkKey("t0", 0, "warm", 5, 0), b"x")
    remount(small_disk, read_only=True)
    try:
        with pytest.raises(ChunkWriteError) as raised:
            store.write(KEY, CHUNK)
        assert raised.value.fault == "store_read_only"
        _no_absolute_path(raised.value, small_disk)
        # deletions the file system refuses are reported, never raised
        assert store.remove_file(kept.path) is False
        assert store.delete(ChunkKey("t0", 0, "warm", 5, 0)) is False
        assert store.remove_partials() == 0
        store.delete_track("t0")
    finally:
        remount(small_disk, read_only=False)
    assert (store.root / kept.path).exists()
    assert store.write(KEY, CHUNK).bytes == len(CHUNK)


def test_a_file_where_the_chunk_folder_should_be_is_store_missing(tmp_path: Path) -> None:
    root = tmp_path / "chunks"
    store = FileChunkStore(root)
    store.write(KEY, b"first")
    shutil.move(root, tmp_path / "elsewhere")
    root.write_bytes(b"not a folder")
    with pytest.raises(ChunkWriteError) as raised:
        store.write(KEY, CHUNK)
    assert raised.value.fault == "store_missing"
    _no_absolute_path(raised.value, tmp_path)
    root.unlink()
    shutil.move(tmp_path / "elsewhere", root)
    assert store.write(KEY, CHUNK).bytes == len(CHUNK)


def test_a_deleted_chunk_folder_is_made_again_by_the_next_write(tmp_path: Path) -> None:
    store = FileChunkStore(tmp_path / "cache" / "chunks")
    store.write(KEY, b"first")
    shutil.rmtree(tmp_path / "cache")
    stored = store.write(KEY, CHUNK)
    assert store.read(KEY, size=stored.bytes, checksum=stored.checksum) == CHUNK


@pytest.mark.parametrize(
    ("code", "fault"),
    [
        (errno.ENOSPC, "no_space"),
        (errno.EDQUOT, "no_space"),
        (errno.EROFS, "store_read_only"),
        (errno.EACCES, "store_read_only"),
        (errno.EPERM, "store_read_only"),
        (errno.ENOENT, "store_missing"),
        (errno.ENOTDIR, "store_missing"),
        (errno.EIO, "store_io"),
        (errno.EMFILE, "store_io"),
    ],
)
def test_each_os_error_of_a_write_is_named_by_its_errno(code: int, fault: StoreFault) -> None:
    """The permission case (EACCES) by its code: the tests run as root here, and root writes
    through a chmod; the read-only mount above is the real fault root cannot write through."""
    assert store_fault(OSError(code, os.strerror(code))) == fault
