"""Rendered chunk files on disk, named by chunk key, written atomically, verified on read.

The store holds bytes; what they encode (FLAC, see docs/audio.md) is the audio adapter's business.

- Names: `<root>/<h[:2]>/<h>/r<revision>/<preset>-i<tenths>-c<index>.flac`, where h is the
  SHA-256 of the track id (track ids are arbitrary text; a hash is always a safe file name).
  One folder per track makes deleting a track's chunks one tree removal.
- Writes go to a `.tmp` name in the same folder, are flushed and fsynced, then renamed over the
  real name and the folder is fsynced: a crash leaves a whole chunk or no chunk under a real name,
  and at most a temporary file that `remove_partials` deletes.
- A write the store cannot take (disk full, read-only folder, a file where a folder should be,
  another I/O error) raises `ChunkWriteError` with the fault (`domain.events.StoreFault`) and no
  absolute path; the temporary file is removed if it can be. A deleted chunk folder is created
  again by the next write (its chunks are gone: reading them finds no file).
- Deletions that the file system refuses (a read-only folder) leave the file and say so in their
  result; they never raise: what is left is an orphan the next start-up removes.
- The checksum is SHA-256 of the file's bytes ("sha256:<hex>"), recorded in `ChunkRendered`.
  Reading checks the size first (cheap) and then the checksum, so a partial, damaged or foreign
  file at a chunk's name is refused, never served.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from domain.events import ChunkKey, StoreFault
from storage.errors import StoreError

SUFFIX: Final = ".flac"
TEMP_SUFFIX: Final = ".tmp"
_NAME = re.compile(r"^[a-z]+-i\d{1,2}-c\d+\.flac$")


class ChunkStoreError(StoreError):
    """A chunk file cannot be served."""

    def __init__(self, key: ChunkKey, path: Path, reason: str) -> None:
        super().__init__(
            f"chunk {key.track!r} r{key.revision} {key.preset} "
            f"i{key.intensity_tenths} c{key.index} at {path}: {reason}"
        )
        self.key = key
        self.path = path
        self.reason = reason


class ChunkWriteError(ChunkStoreError):
    """The store cannot take the chunk's file now (`fault`); `path` is relative to its root."""

    def __init__(self, key: ChunkKey, fault: StoreFault, detail: str) -> None:
        super().__init__(key, Path(chunk_path(key)), f"{_FAULT_WORDS[fault]} ({detail})")
        self.fault: StoreFault = fault
        self.detail = detail


_FAULT_WORDS: Final[dict[str, str]] = {
    "no_space": "no space left for the chunk store",
    "store_read_only": "the chunk store cannot be written",
    "store_missing": "the chunk folder is missing or not a folder",
    "store_io": "the chunk store failed",
}


def store_fault(error: OSError) -> StoreFault:
    """Which fault of the store an OSError of a write is, by its errno."""
    code = error.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "no_space"
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "store_read_only"
    if code in (errno.ENOENT, errno.ENOTDIR, errno.EEXIST):
        return "store_missing"
    return "store_io"


class ChunkMissingError(ChunkStoreError):
    """No file under the chunk's name."""


class ChunkCorruptError(ChunkStoreError):
    """A file is there but its size or checksum is not the recorded one."""


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """What a write recorded: the path relative to the store root, size and checksum."""

    path: str
    bytes: int
    checksum: str


def checksum_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def track_folder(track: str) -> str:
    digest = hashlib.sha256(track.encode("utf-8")).hexdigest()
    return f"{digest[:2]}/{digest}"


def chunk_path(key: ChunkKey) -> str:
    """The chunk's path relative to the store root (what `ChunkRendered.path` records)."""
    name = f"{key.preset}-i{key.intensity_tenths}-c{key.index}{SUFFIX}"
    return f"{track_folder(key.track)}/r{key.revision}/{name}"


class FileChunkStore:
    """Chunk files under `root`; safe to use from several threads or processes at once."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path_of(self, key: ChunkKey) -> Path:
        return self.root / chunk_path(key)

    def write(self, key: ChunkKey, data: bytes) -> StoredChunk:
        """Store `data` as the chunk's file, replacing any previous one atomically;
        ChunkWriteError when the store cannot take it."""
        try:
            return self._write(key, data)
        except OSError as e:
            raise ChunkWriteError(key, store_fault(e), e.strerror or type(e).__name__) from e

    def _write(self, key: ChunkKey, data: bytes) -> StoredChunk:
        final = self.path_of(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(f".{final.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}")
        try:
            with open(temp, "xb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, final)
        except BaseException:
            _unlink(temp)
            raise
        _fsync_dir(final.parent)
        return StoredChunk(chunk_path(key), len(data), checksum_of(data))

    def read(self, key: ChunkKey, *, size: int, checksum: str) -> bytes:
        """The chunk's bytes, if the file has exactly the recorded size and checksum."""
        path = self.path_of(key)
        try:
            with open(path, "rb") as f:
                actual = os.fstat(f.fileno()).st_size
                if actual != size:
                    raise ChunkCorruptError(key, path, f"{actual} bytes, expected {size}")
                data = f.read(size + 1)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as e:
            raise ChunkMissingError(key, path, "no file") from e
        if len(data) != size:
            raise ChunkCorruptError(key, path, f"read {len(data)} bytes, expected {size}")
        if checksum_of(data) != checksum:
            raise ChunkCorruptError(key, path, "checksum differs")
        return data

    def verify(self, key: ChunkKey, *, size: int, checksum: str) -> bool:
        """Whether the chunk's file is there with the recorded size and checksum."""
        try:
            self.read(key, size=size, checksum=checksum)
        except ChunkStoreError:
            return False
        return True

    def delete(self, key: ChunkKey) -> bool:
        """Remove the chunk's file; True if it was removed. Deleting twice is fine."""
        return _unlink(self.path_of(key))

    def delete_track(self, track: str) -> None:
        """Remove every chunk of `track`, of every revision."""
        shutil.rmtree(self.root / track_folder(track), ignore_errors=True)

    def files(self) -> Iterator[str]:
        """Relative paths of every file named like a chunk (for reconciliation with the log)."""
        for path in self.root.glob("*/*/r*/*" + SUFFIX):
            if _NAME.match(path.name):
                yield path.relative_to(self.root).as_posix()

    def remove_partials(self) -> int:
        """Delete temporary files a crash left behind; how many there were."""
        removed = 0
        for path in self.root.glob("*/*/r*/.*" + TEMP_SUFFIX):
            removed += _unlink(path)
        return removed

    def remove_file(self, relative: str) -> bool:
        """Delete a file found by `files()` that the log does not know (an orphan); True if it
        was removed."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"{relative!r} is outside the chunk store")
        return _unlink(path)


def _unlink(path: Path) -> bool:
    """Remove a file: False when it is not there or the file system refuses (read-only)."""
    try:
        path.unlink()
    except OSError:
        return False
    return True


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
