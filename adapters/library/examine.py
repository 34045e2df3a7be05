"""Reading files for a scan: fingerprints and probes of batches of paths, in worker threads.

Each function here is blocking and takes a batch, so one `anyio.to_thread.run_sync` call does
many files; results say per path what was found, and a file that vanished meanwhile is `None`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import anyio

from adapters.audio.errors import AudioReadError
from adapters.library.fingerprint import Probed, fingerprint, probe_track
from adapters.library.index import Unreadable
from adapters.library.paths import FileStat, unsupported
from domain.events import Fingerprint

BATCH: Final = 32

T = TypeVar("T")
Hashed = Fingerprint | Unreadable | None  # None: the file is gone
ProbeOutcome = Probed | Unreadable | None


@dataclass(frozen=True, slots=True)
class Batch:
    """Paths relative to `root` with what the walk found about them."""

    root: Path
    paths: tuple[tuple[str, FileStat], ...]


def hash_batch(batch: Batch) -> dict[str, Hashed]:
    out: dict[str, Hashed] = {}
    for rel, st in batch.paths:
        try:
            out[rel] = fingerprint(os.path.join(batch.root, rel), st.size, st.mtime_ns)
        except FileNotFoundError:
            out[rel] = None
        except PermissionError as e:
            out[rel] = Unreadable("permission", e.strerror or "", None)
        except OSError as e:
            out[rel] = Unreadable("corrupt", f"{type(e).__name__}: {e.strerror or e}", None)
    return out


def probe_batch(batch: Batch, fingerprints: dict[str, Fingerprint]) -> dict[str, ProbeOutcome]:
    out: dict[str, ProbeOutcome] = {}
    for rel, _ in batch.paths:
        fp = fingerprints[rel]
        if unsupported(rel):
            suffix = os.path.splitext(rel)[1].lower()
            out[rel] = Unreadable("unsupported", f"{suffix} cannot be decoded", fp)
            continue
        try:
            out[rel] = probe_track(batch.root / rel)
        except AudioReadError as e:
            out[rel] = None if e.reason == "missing" else Unreadable(e.reason, e.detail, fp)
    return out


async def in_threads(
    root: Path,
    items: Sequence[tuple[str, FileStat]],
    work: Callable[[Batch], dict[str, T]],
    *,
    limiter: anyio.CapacityLimiter,
    progress: Callable[[int], None] | None = None,
) -> dict[str, T]:
    """Run `work` over `items` in batches of `BATCH`, at most `limiter` batches at a time."""
    results: dict[str, T] = {}

    async def one(batch: Batch) -> None:
        results.update(await anyio.to_thread.run_sync(work, batch, limiter=limiter))
        if progress is not None:
            progress(len(batch.paths))

    async with anyio.create_task_group() as tg:
        for start in range(0, len(items), BATCH):
            tg.start_soon(one, Batch(root, tuple(items[start : start + BATCH])))
    return results


def bind(
    work: Callable[[Batch, dict[str, Fingerprint]], dict[str, T]], fps: dict[str, Fingerprint]
) -> Callable[[Batch], dict[str, T]]:
    def bound(batch: Batch) -> dict[str, T]:
        return work(batch, fps)

    return bound
