"""The chunk store: atomic writes, verified reads, idempotent deletes, reconciliation helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.events import ChunkKey
from storage.chunks import (
    ChunkCorruptError,
    ChunkMissingError,
    FileChunkStore,
    checksum_of,
    chunk_path,
)

KEY = ChunkKey("../weird/track id ünïcode?.mp3", 3, "bright", 7, 12)


def test_write_then_read_returns_the_bytes(store: FileChunkStore) -> None:
    stored = store.write(KEY, b"fLaC" + bytes(1000))
    assert stored.path == chunk_path(KEY) and stored.bytes == 1004
    assert stored.checksum == checksum_of(b"fLaC" + bytes(1000))
    assert store.read(KEY, size=stored.bytes, checksum=stored.checksum) == b"fLaC" + bytes(1000)
    assert store.path_of(KEY).is_relative_to(store.root)  # the track id cannot escape the root
    assert list(store.files()) == [stored.path]


def test_rewriting_replaces_atomically_and_leaves_no_temp_file(store: FileChunkStore) -> None:
    store.write(KEY, b"old")
    stored = store.write(KEY, b"new!")
    assert store.read(KEY, size=4, checksum=stored.checksum) == b"new!"
    assert [p.name for p in store.path_of(KEY).parent.iterdir()] == [store.path_of(KEY).name]


def test_a_partial_file_is_never_served(store: FileChunkStore) -> None:
    stored = store.write(KEY, bytes(range(200)))
    path = store.path_of(KEY)
    path.write_bytes(path.read_bytes()[:150])
    with pytest.raises(ChunkCorruptError, match="150 bytes"):
        store.read(KEY, size=stored.bytes, checksum=stored.checksum)
    assert not store.verify(KEY, size=stored.bytes, checksum=stored.checksum)


def test_a_foreign_file_of_the_same_size_is_never_served(store: FileChunkStore) -> None:
    stored = store.write(KEY, b"a" * 64)
    store.path_of(KEY).write_bytes(b"b" * 64)
    with pytest.raises(ChunkCorruptError, match="checksum"):
        store.read(KEY, size=stored.bytes, checksum=stored.checksum)


def test_missing_chunk_and_idempotent_delete(store: FileChunkStore) -> None:
    with pytest.raises(ChunkMissingError):
        store.read(KEY, size=1, checksum="sha256:00")
    stored = store.write(KEY, b"x")
    assert store.delete(KEY) is True
    assert store.delete(KEY) is False
    assert not store.verify(KEY, size=stored.bytes, checksum=stored.checksum)


def test_temp_files_from_a_crash_are_not_chunks_and_get_removed(store: FileChunkStore) -> None:
    store.write(KEY, b"whole")
    crash = store.path_of(KEY).parent / f".{store.path_of(KEY).name}.dead.tmp"
    crash.write_bytes(b"half")
    assert list(store.files()) == [chunk_path(KEY)]
    assert store.remove_partials() == 1 and not crash.exists()


def test_delete_track_removes_every_revision(store: FileChunkStore) -> None:
    other = ChunkKey("another", 0, "warm", 5, 0)
    for revision in (0, 1):
        store.write(ChunkKey(KEY.track, revision, "warm", 5, 0), b"x")
    store.write(other, b"y")
    store.delete_track(KEY.track)
    assert list(store.files()) == [chunk_path(other)]
    store.delete_track(KEY.track)  # again: nothing to do, no error


def test_orphans_can_be_removed_but_nothing_outside_the_root(
    store: FileChunkStore, tmp_path: Path
) -> None:
    stored = store.write(KEY, b"x")
    assert store.remove_file(stored.path) is True and store.remove_file(stored.path) is False
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    with pytest.raises(ValueError, match="outside"):
        store.remove_file("../precious.txt")
    assert outside.exists()
