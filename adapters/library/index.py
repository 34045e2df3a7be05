"""What the log says is on disk, by path: the tracks and the files recorded unreadable.

Built from the projected `State` (tracks) and the log's `TrackUnreadable` events (the projection
does not keep those), then kept current by applying the events a scan emits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from domain.events import (
    Event,
    Fingerprint,
    TrackAdded,
    TrackDeleted,
    TrackModified,
    TrackMoved,
    TrackUnreadable,
    UnreadableReason,
)
from domain.state import State


@dataclass(frozen=True, slots=True)
class Known:
    track: str
    fingerprint: Fingerprint


@dataclass(frozen=True, slots=True)
class Unreadable:
    reason: UnreadableReason
    detail: str
    fingerprint: Fingerprint | None


def known_unreadable(events: Iterable[Event]) -> dict[str, Unreadable]:
    """The latest `TrackUnreadable` per path among `events` (in log order)."""
    found: dict[str, Unreadable] = {}
    for event in events:
        if isinstance(event, TrackUnreadable):
            found[event.path] = Unreadable(event.reason, event.detail, event.fingerprint)
    return found


@dataclass(slots=True)
class LibraryIndex:
    """Tracks by relative path, plus unreadable files; `apply` keeps it in step with the log."""

    tracks: dict[str, Known] = field(default_factory=dict)
    unreadable: dict[str, Unreadable] = field(default_factory=dict)
    path_of: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_state(
        cls, state: State, unreadable: dict[str, Unreadable] | None = None
    ) -> LibraryIndex:
        index = cls()
        for track_id, track in sorted(state.tracks.items()):
            index.tracks[track.path] = Known(track_id, track.fingerprint)
            index.path_of[track_id] = track.path
        for path, entry in (unreadable or {}).items():
            if path not in index.tracks:  # a track recorded after it was unreadable wins
                index.unreadable[path] = entry
        return index

    def new_track_id(self, rel: str, content_hash: str) -> str:
        """A track id for a file first seen at `rel`: derived from the path and content, made
        unique against the tracks known now. It is kept for the life of the track (moves too)."""
        salt = 0
        while True:
            seed = f"{rel}\0{content_hash}\0{salt}".encode()
            track = "t" + hashlib.blake2b(seed, digest_size=10).hexdigest()
            if track not in self.path_of:
                return track
            salt += 1

    def apply(self, event: Event) -> None:
        if isinstance(event, TrackAdded | TrackModified):
            old = self.path_of.get(event.track)
            if old is not None and old != event.path:
                self.tracks.pop(old, None)
            self.tracks[event.path] = Known(event.track, event.fingerprint)
            self.path_of[event.track] = event.path
            self.unreadable.pop(event.path, None)
        elif isinstance(event, TrackMoved):
            old = self.path_of.get(event.track)
            if old is None:
                return
            known = self.tracks.pop(old)
            self.tracks[event.path] = known
            self.path_of[event.track] = event.path
        elif isinstance(event, TrackDeleted):
            path = self.path_of.pop(event.track, None)
            if path is not None:
                self.tracks.pop(path, None)
        elif isinstance(event, TrackUnreadable):
            self.unreadable[event.path] = Unreadable(event.reason, event.detail, event.fingerprint)

    def in_scope(self, dirs: Iterable[str], files: Iterable[str]) -> set[str]:
        """Known paths (tracks and unreadable) under the folders `dirs` or equal to `files`."""
        dirs = tuple(dirs)
        paths = set(self.tracks) | set(self.unreadable)
        prefixes = tuple(d + "/" for d in dirs if d)
        if any(d == "" for d in dirs):
            return paths
        chosen = {p for p in paths if prefixes and p.startswith(prefixes)}
        chosen.update(f for f in files if f in paths)
        return chosen
