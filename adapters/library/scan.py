"""Scan: walk the library, compare with what the log says, and emit the events that differ.

The fast path reads no file contents: a listed file whose size and mtime match the log is
unchanged. Everything else is fingerprinted (first and last 64 KiB); a new path whose content
matches a track that vanished is that track moved (identity and rendered chunks kept), and the
rest is probed (format, rate, channels, real duration) in worker threads.

Events come out in this order: files that could not be read at all, moves (a track
overwritten by a moved one is deleted first), deletions, then modifications, additions and
undecodable files by path. When no known track is gone or changed (a first scan, or only new
files), nothing can be a move, so the files are fingerprinted and probed `SLICE` at a time and
each slice's events come out in that order: the first tracks of a large first scan reach the log
after one slice, not after every file is fingerprinted. Each event is applied to the index as it
is made, so the index always matches the events emitted so far.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Final

import anyio
import msgspec

from adapters.errors import AdapterError
from adapters.library.examine import Hashed, ProbeOutcome, bind, hash_batch, in_threads, probe_batch
from adapters.library.fingerprint import Probed
from adapters.library.index import LibraryIndex, Unreadable
from adapters.library.paths import FileStat, Walker
from domain.events import (
    DomainEvent,
    Fingerprint,
    NewEvent,
    TrackAdded,
    TrackDeleted,
    TrackModified,
    TrackMoved,
    TrackUnreadable,
)
from domain.state import State

Progress = Callable[[int, int], None]  # (files done, files listed)
Deliver = Callable[[Sequence[NewEvent]], Awaitable[None]]
#: Files probed between two deliveries of a progressive scan.
SLICE: Final = 256
logger = logging.getLogger(__name__)


class LibraryMissingError(AdapterError):
    """The library root does not exist or is not a folder (nothing is emitted for it)."""

    def __init__(self, root: Path) -> None:
        super().__init__(f"library folder not found: {root}")
        self.root = root


class Scope(msgspec.Struct, frozen=True):
    """What to look at: whole subtrees (`""` is the root) and single files, relative paths."""

    dirs: frozenset[str] = frozenset({""})
    files: frozenset[str] = frozenset()


FULL = Scope()


class ScanStats(msgspec.Struct):
    files: int = 0
    unchanged: int = 0
    hashed: int = 0
    probed: int = 0
    added: int = 0
    modified: int = 0
    moved: int = 0
    deleted: int = 0
    unreadable: int = 0
    ignored: int = 0
    unsafe_links: int = 0
    bad_names: int = 0
    seconds: float = 0.0


class ScanResult(msgspec.Struct, frozen=True):
    events: list[NewEvent]
    stats: ScanStats


class _Emitter:
    def __init__(
        self,
        index: LibraryIndex,
        stats: ScanStats,
        now_ms: Callable[[], int],
        new_id: Callable[[], str],
        deliver: Deliver | None,
    ) -> None:
        self.index, self.stats = index, stats
        self.now_ms, self.new_id = now_ms, new_id
        self.events: list[NewEvent] = []
        self._deliver = deliver
        self._delivered = 0

    async def flush(self) -> None:
        """Hand the events emitted since the last flush to `deliver`, in order."""
        if self._deliver is not None and self._delivered < len(self.events):
            batch = self.events[self._delivered :]
            self._delivered = len(self.events)
            await self._deliver(batch)

    def emit(self, event: DomainEvent) -> None:
        self.index.apply(event)
        self.events.append(NewEvent(self.new_id(), self.now_ms(), event))
        counter = {
            TrackAdded: "added",
            TrackModified: "modified",
            TrackMoved: "moved",
            TrackDeleted: "deleted",
            TrackUnreadable: "unreadable",
        }[type(event)]
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)

    def track(
        self,
        cls: type[TrackAdded | TrackModified],
        track: str,
        rel: str,
        fp: Fingerprint,
        probed: Probed,
    ) -> None:
        self.emit(cls(track, rel, fp, probed.duration_ms, probed.sample_rate, probed.channels))

    def unreadable(self, rel: str, entry: Unreadable) -> None:
        if self.index.unreadable.get(rel) != entry:
            self.emit(TrackUnreadable(rel, entry.reason, entry.detail, entry.fingerprint))


async def scan(
    root: Path,
    state: State | LibraryIndex,
    *,
    now_ms: Callable[[], int],
    new_id: Callable[[], str],
    scope: Scope = FULL,
    limiter: anyio.CapacityLimiter | None = None,
    progress: Progress | None = None,
    deep: bool = False,
    deliver: Deliver | None = None,
) -> ScanResult:
    """Events that bring the log in line with the files under `root` (within `scope`).

    Given a `LibraryIndex`, it is updated in place with the events returned. With `deliver`,
    the events are also handed over as they are decided, `SLICE` probed files at a time (a
    first scan of a large library fills the log while it runs). With `deep`,
    every file is fingerprinted (catching a same-size rewrite that kept its mtime); a file
    whose fingerprint is unchanged is then left alone. Raises `LibraryMissingError` if `root`
    is not a folder."""
    started = time.perf_counter()
    index = state if isinstance(state, LibraryIndex) else LibraryIndex.from_state(state)
    limiter = limiter or anyio.CapacityLimiter(4)
    if not await anyio.to_thread.run_sync(os.path.isdir, root):
        raise LibraryMissingError(root)
    walker = Walker(root)
    listing = await anyio.to_thread.run_sync(walker.walk, scope.dirs, scope.files, limiter=limiter)
    stats = ScanStats(
        files=len(listing.files),
        ignored=listing.ignored,
        unsafe_links=listing.unsafe_links,
        bad_names=listing.bad_names,
    )
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, stats.files)

    todo = [
        (rel, st) for rel, st in listing.files.items() if deep or not _unchanged(index, rel, st)
    ]
    gone = {
        rel
        for rel in index.in_scope(scope.dirs, scope.files) - set(listing.files)
        if not listing.covers(rel)
    }
    if listing.unlisted:
        logger.warning(
            "library %s: could not list %s; the tracks known under them are kept",
            root,
            ", ".join(sorted(listing.unlisted)[:5])
            + (" and more" if len(listing.unlisted) > 5 else ""),
        )
    emitter = _Emitter(index, stats, now_ms, new_id, deliver)
    stats.hashed = len(todo)
    if deep or gone or any(rel in index.tracks for rel, _ in todo):
        hashed = await in_threads(root, todo, hash_batch, limiter=limiter)
        if deep:
            hashed = {rel: h for rel, h in hashed.items() if not _same(index, rel, h)}
        stats.unchanged = stats.files - len(hashed)
        step(stats.unchanged)
        await _decide(root, listing.files, hashed, gone, emitter, limiter, step)
    else:  # nothing known is gone or changed, so nothing can have moved: slice by slice
        stats.unchanged = stats.files - len(todo)
        step(stats.unchanged)
        for start in range(0, len(todo), SLICE):
            part = todo[start : start + SLICE]
            hashed = await in_threads(root, part, hash_batch, limiter=limiter)
            await _decide(root, listing.files, hashed, set(), emitter, limiter, step)
    await emitter.flush()
    stats.seconds = time.perf_counter() - started
    return ScanResult(emitter.events, stats)


def _unchanged(index: LibraryIndex, rel: str, st: FileStat) -> bool:
    known = index.tracks.get(rel)
    fp = known.fingerprint if known is not None else None
    if fp is None and rel in index.unreadable:
        fp = index.unreadable[rel].fingerprint
    return fp is not None and fp.size == st.size and fp.mtime_ns == st.mtime_ns


def _same(index: LibraryIndex, rel: str, hashed: Hashed) -> bool:
    known = index.tracks.get(rel)
    if known is not None:
        return known.fingerprint == hashed
    return rel in index.unreadable and index.unreadable[rel].fingerprint == hashed


async def _decide(
    root: Path,
    files: dict[str, FileStat],
    hashed: dict[str, Hashed],
    gone: set[str],
    out: _Emitter,
    limiter: anyio.CapacityLimiter,
    step: Callable[[int], None],
) -> None:
    index = out.index
    gone |= {rel for rel, h in hashed.items() if h is None}
    for rel, h in sorted(hashed.items()):
        if isinstance(h, Unreadable):
            step(1)
            if rel in index.tracks:
                out.emit(TrackDeleted(index.tracks[rel].track))
            out.unreadable(rel, h)
    fps = {rel: h for rel, h in hashed.items() if isinstance(h, Fingerprint)}
    vanished: dict[tuple[int, str], list[str]] = {}
    for rel in sorted(gone):
        known = index.tracks.get(rel)
        if known is not None:
            key = (known.fingerprint.size, known.fingerprint.content_hash)
            vanished.setdefault(key, []).append(rel)
        else:
            index.unreadable.pop(rel, None)  # an unreadable file went away: nothing to record
    to_probe: dict[str, FileStat] = {}
    for rel, fp in sorted(fps.items()):
        sources = vanished.get((fp.size, fp.content_hash))
        if not sources:
            to_probe[rel] = files[rel]
            continue
        source = sources.pop(0)
        moved = index.tracks[source]
        if rel in index.tracks:  # overwritten by the moved file
            out.emit(TrackDeleted(index.tracks[rel].track))
        out.emit(TrackMoved(moved.track, rel))
        if moved.fingerprint.mtime_ns != fp.mtime_ns:
            to_probe[rel] = files[rel]  # same first/last blocks, but maybe not the middle
        else:
            step(1)
    for sources in vanished.values():
        for rel in sources:
            out.emit(TrackDeleted(index.tracks[rel].track))
    await out.flush()
    items = sorted(to_probe.items())
    probe = bind(probe_batch, fps)
    for start in range(0, len(items), SLICE):
        part = items[start : start + SLICE]
        probed = await in_threads(root, part, probe, limiter=limiter, progress=step)
        out.stats.probed += len(part)
        for rel, _ in part:
            _record(rel, fps[rel], probed[rel], out)
        await out.flush()


def _record(rel: str, fp: Fingerprint, outcome: ProbeOutcome, out: _Emitter) -> None:
    known = out.index.tracks.get(rel)
    if outcome is None:  # vanished between fingerprint and probe: the next scan sees it
        return
    if isinstance(outcome, Unreadable):
        if known is not None:
            out.emit(TrackDeleted(known.track))
        out.unreadable(rel, outcome)
    elif known is not None:
        out.track(TrackModified, known.track, rel, fp, outcome)
    else:
        out.track(TrackAdded, out.index.new_track_id(rel, fp.content_hash), rel, fp, outcome)
