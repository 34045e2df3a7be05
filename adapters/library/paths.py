"""Which files of the library tree count, and how the tree is walked safely.

Rules:
- hidden names (a leading dot, in the file or any folder above it) are ignored, and so are
  temporary and partial files: `.part`, `.crdownload`, `.tmp`, `.swp`-style editor swap files,
  a trailing `~`, Emacs `#autosave#` files;
- only audio extensions count; m4a/aac/wma/alac are audio the decoder cannot read, so they are
  listed (and recorded unreadable, reason "unsupported") rather than ignored;
- symlinks are followed only while their target stays inside the root; a folder already
  visited (same device and inode) is not walked again, which breaks loops;
- paths are relative to the root with POSIX separators; a name that is not valid UTF-8 cannot
  be stored in the JSON log and is counted, not listed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

AUDIO_EXTENSIONS: Final = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif"}
)
UNSUPPORTED_AUDIO: Final = frozenset({".m4a", ".aac", ".wma", ".alac", ".mp4"})
TEMP_SUFFIXES: Final = (".part", ".crdownload", ".tmp", ".temp", ".partial", ".download", "~")
SWAP_SUFFIXES: Final = (".swp", ".swo", ".swx")


def ignored(name: str) -> bool:
    """True for a name the library never looks at: hidden, temporary, partial or swap files."""
    lower = name.lower()
    return (
        name.startswith(".")
        or (name.startswith("#") and name.endswith("#"))
        or lower.endswith(TEMP_SUFFIXES)
        or lower.endswith(SWAP_SUFFIXES)
    )


def wanted(name: str) -> bool:
    """True for a file name the library lists: not ignored, with an audio extension."""
    if ignored(name):
        return False
    suffix = os.path.splitext(name)[1].lower()
    return suffix in AUDIO_EXTENSIONS or suffix in UNSUPPORTED_AUDIO


def unsupported(rel: str) -> bool:
    """Audio the decoder cannot read (recorded unreadable without trying)."""
    return os.path.splitext(rel)[1].lower() in UNSUPPORTED_AUDIO


def storable(rel: str) -> bool:
    """The path can be written to the log (valid UTF-8, no NUL)."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\0" not in rel


def relative(root: Path, path: str | os.PathLike[str]) -> str | None:
    """`path` relative to `root` as POSIX text, or None if it lies outside the root."""
    rel = os.path.relpath(os.fspath(path), os.fspath(root))
    if rel == "." or rel == ".." or rel.startswith("../"):
        return None if rel != "." else ""
    return Path(rel).as_posix()


def hidden_part(rel: str) -> bool:
    """Some folder or file along `rel` is ignored (so the whole path is)."""
    return any(ignored(part) for part in rel.split("/") if part)


@dataclass(frozen=True, slots=True)
class FileStat:
    size: int
    mtime_ns: int


@dataclass(slots=True)
class Listing:
    """What a walk found: wanted files by relative path, and what it left out."""

    files: dict[str, FileStat] = field(default_factory=dict)
    ignored: int = 0
    unsafe_links: int = 0
    bad_names: int = 0
    # Folders and files that exist but could not be listed or looked at (permission denied, an
    # I/O error): what the log knows under them is kept, not taken for deleted.
    unlisted: set[str] = field(default_factory=set)

    def covers(self, rel: str) -> bool:
        """Whether `rel` is, or is under, something that could not be listed."""
        return any(rel == u or rel.startswith(u + "/") or not u for u in self.unlisted)


class Walker:
    """Walks parts of one library root, applying the rules above."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self._visited: set[tuple[int, int]] = set()

    def _inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.real_root or real.startswith(self.real_root + os.sep)

    def walk(self, dirs: Iterable[str], files: Iterable[str] = ()) -> Listing:
        """List the subtrees `dirs` ("" is the whole root) and the single files `files`."""
        listing = Listing()
        self._visited.clear()
        for rel in sorted(set(dirs)):
            if rel and hidden_part(rel):
                continue
            self._walk_dir(rel, listing)
        for rel in sorted(set(files)):
            if rel not in listing.files and not hidden_part(rel):
                self._add_file(rel, listing)
        return listing

    def _walk_dir(self, rel: str, listing: Listing) -> None:
        path = os.path.join(self.root, rel) if rel else os.fspath(self.root)
        if rel and not self._inside(path):
            listing.unsafe_links += 1
            return
        try:
            st = os.stat(path)
        except OSError as e:
            _unlisted(listing, rel, e)
            return
        if not stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) in self._visited:
            listing.unsafe_links += stat.S_ISDIR(st.st_mode)
            return
        self._visited.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            _unlisted(listing, rel, e)
            return
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            if ignored(entry.name):
                listing.ignored += 1
                continue
            try:
                is_dir = entry.is_dir()  # follows symlinks; checked against the root below
            except OSError as e:
                _unlisted(listing, child, e)
                continue
            if is_dir:
                if entry.is_symlink() and not self._inside(entry.path):
                    listing.unsafe_links += 1
                    continue
                self._walk_dir(child, listing)
            elif wanted(entry.name):
                self._add_file(child, listing, entry.is_symlink())
            else:
                listing.ignored += 1

    def _add_file(self, rel: str, listing: Listing, link: bool | None = None) -> None:
        path = os.path.join(self.root, rel)
        if not wanted(os.path.basename(rel)):
            return
        if not storable(rel):
            listing.bad_names += 1
            return
        if link is None:
            link = os.path.islink(path) or not self._inside(os.path.dirname(path))
        if link and not self._inside(path):
            listing.unsafe_links += 1
            return
        try:
            st = os.stat(path)
        except OSError as e:
            _unlisted(listing, rel, e)
            return
        if stat.S_ISREG(st.st_mode):
            listing.files[rel] = FileStat(st.st_size, st.st_mtime_ns)


def _unlisted(listing: Listing, rel: str, error: OSError) -> None:
    """A path that could not be looked at: gone (nothing to keep) or there but unreadable."""
    if error.errno not in (errno.ENOENT, errno.ENOTDIR):
        listing.unlisted.add(rel)


def root_problem(root: Path, known: int = 0) -> str | None:
    """Why the library folder cannot be scanned now, or None. A folder that cannot be listed
    must not be scanned: it would look empty, as if every track had been deleted. Nor an empty
    folder while the log knows `known` > 0 tracks: that is what a mount point looks like with
    its disk not mounted (a library emptied on purpose is taken as such once a file is back)."""
    if not root.is_dir():
        return "is missing (unmounted, moved or deleted)"
    if not os.access(root, os.R_OK | os.X_OK):
        return "cannot be read (permission denied)"
    if known > 0:
        try:
            with os.scandir(root) as it:
                empty = next(it, None) is None
        except OSError as e:
            return f"cannot be listed ({e.strerror or e})"
        if empty:
            return f"is empty though {known} tracks are known (a disk not mounted?)"
    return None
