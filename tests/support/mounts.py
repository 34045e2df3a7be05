"""Small file systems for fault tests: a tmpfs of a few MB (a disk that fills up), remounted
read-only when asked. Mounting needs root (CAP_SYS_ADMIN); where it is refused, `MountRefused`
says why and the tests skip with that reason. A mount is always taken down again, lazily
(`umount -l`) so that files still open in it cannot keep it behind.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class MountRefused(Exception):
    """This machine does not let us mount a tmpfs (not root, or no CAP_SYS_ADMIN)."""


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise MountRefused(f"mount {' '.join(args)}: {done.stderr.strip() or done.returncode}")


@contextmanager
def tmpfs(where: Path, *, size_kib: int) -> Iterator[Path]:
    """A fresh tmpfs of `size_kib` KiB mounted at `where` (created) for the `with` body."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(where))
    except FileNotFoundError as e:
        raise MountRefused(f"no mount command: {e}") from e
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def remount(where: Path, *, read_only: bool) -> None:
    """Make a mounted tmpfs read-only (every write fails with EROFS, root's too) or writable."""
    _mount("-o", f"remount,{'ro' if read_only else 'rw'}", str(where))


def fill(where: Path, *, leave_kib: int = 0) -> Path:
    """A file taking the space of the file system at `where` but `leave_kib` KiB."""
    filler = where / "filler.bin"
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as out:
        written = 1
        while written:
            try:
                written = out.write(block) or 0
            except OSError:  # no space left: the disk is full
                written = 0
    if leave_kib:
        size = filler.stat().st_size
        with open(filler, "r+b") as out:
            out.truncate(max(0, size - leave_kib * 1024))
    return filler


def mounted(where: Path) -> bool:
    target = str(where.resolve())
    with open("/proc/mounts", encoding="utf-8") as mounts:
        return any(line.split()[1] == target for line in mounts)
