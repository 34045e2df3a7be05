"""Before rendering: is the track's file still the one the log knows?

Returns the lifecycle events to append instead of rendering (deleted, modified, unreadable), or
nothing when the file is unchanged. Runs in a worker thread (it may hash and probe the file).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from adapters.audio.errors import AudioReadError
from adapters.library.fingerprint import fingerprint, probe_track
from domain.events import DomainEvent, TrackDeleted, TrackModified, TrackUnreadable
from domain.state import Track


def lifecycle_events(track_id: str, track: Track, source: Path) -> list[DomainEvent]:
    try:
        st = os.stat(source)
    except (FileNotFoundError, NotADirectoryError):
        return [TrackDeleted(track=track_id)]
    except PermissionError:
        return []  # the render itself records the permission failure
    if not stat.S_ISREG(st.st_mode):
        return [TrackDeleted(track=track_id)]
    known = track.fingerprint
    if st.st_size == known.size and st.st_mtime_ns == known.mtime_ns:
        return []
    try:
        now = fingerprint(source, st.st_size, st.st_mtime_ns)
    except FileNotFoundError:
        return [TrackDeleted(track=track_id)]
    except OSError:
        return []
    if now.size == known.size and now.content_hash == known.content_hash:
        return []  # touched, same content: its chunks are still good
    try:
        probed = probe_track(source)
    except AudioReadError as e:
        return [
            TrackUnreadable(
                path=track.path, reason=e.reason, detail=str(e.named(track.path)), fingerprint=now
            ),
            TrackDeleted(track=track_id),
        ]
    return [
        TrackModified(
            track=track_id,
            path=track.path,
            fingerprint=now,
            duration_ms=probed.duration_ms,
            sample_rate=probed.sample_rate,
            channels=probed.channels,
        )
    ]
