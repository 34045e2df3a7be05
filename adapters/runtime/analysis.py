"""The background analysis of the library: one chunk per job, the playing track first.

Every known track is measured once per file revision (the log keeps the result): each chunk's
content features (`ChunkAnalysed`, for the audio-content predictor) and, once its last chunk is
measured, the whole track (`TrackAnalysed`: integrated loudness, peak, and the frames that really
decode, which correct a length the header only estimated). A job measures one chunk, so it is
short and a render never waits long for its worker; the loudness of the chunks measured so far
is kept here, in memory, and a service that restarts measures an unfinished track again.

Order: the playing track, the queued next track, then the rest of the library by path. A chunk
whose job failed (a crash, a timeout) is tried again after `retry_s`; after `MAX_FAILURES` the
track is recorded as analysed with the reason, so a bad file is not measured for ever.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

import msgspec

from adapters.runtime import specs
from adapters.runtime.pool import Reply
from domain.events import DomainEvent, FrameSpan, TrackAnalysed
from domain.state import State

if TYPE_CHECKING:
    from domain.loudness import ChunkMeasure

REFRESH_S: Final = 5.0
MAX_FAILURES: Final = 3


class Measured(msgspec.Struct, frozen=True):
    events: list[DomainEvent]
    chunks: int


class _Progress:
    """What is measured so far of one track revision."""

    def __init__(self, revision: int) -> None:
        self.revision = revision
        self.index = 0
        self.steps: list[float] = []
        self.peak = 0.0
        self.frames = 0
        self.decodable = 0
        self.sanitised = 0
        self.damaged: list[FrameSpan] = []
        self.failed = False
        self.failures = 0
        self.not_before = 0.0

    def add(self, measure: ChunkMeasure) -> None:
        self.steps.extend(measure.steps)
        self.peak = max(self.peak, measure.peak)
        self.frames += measure.frames
        self.decodable += measure.decodable
        self.sanitised += measure.sanitised
        self.damaged.extend(measure.damaged)
        self.failed = self.failed or measure.failed
        self.index += 1

    def result(self, track: str, reason: str | None = None) -> TrackAnalysed:
        # numpy: imported when the first track is measured, not while the service starts
        from domain.loudness import SILENT_LUFS, gated_loudness, merged

        if reason is None and self.decodable == 0 and (self.failed or self.damaged):
            return TrackAnalysed(track, self.revision, SILENT_LUFS, 0.0, 0, "unreadable: corrupt")
        loudness = gated_loudness(self.steps)
        if reason is None and loudness is None:
            reason = "empty" if self.decodable == 0 else "silent"
        level = SILENT_LUFS if loudness is None else loudness
        damaged = merged(self.damaged)
        return TrackAnalysed(
            track, self.revision, level, self.peak, self.frames, reason, self.sanitised, damaged
        )


class AnalysisQueue:
    def __init__(
        self, library_root: Path, chunk_seconds: float, ref: str, *, retry_s: float = 30.0
    ) -> None:
        self.library_root = library_root
        self.retry_s = retry_s
        self.chunk_seconds = chunk_seconds
        self.ref = ref
        self._progress: dict[str, _Progress] = {}
        self._measured: set[tuple[str, int]] = set()  # recorded, maybe not folded yet
        self._order: list[str] = []
        self._ordered_at = float("-inf")
        self._ordered_from: object = None  # the track map the order was made from

    def candidates(self, state: State, limit: int) -> list[str]:
        """Up to `limit` tracks whose next chunk can be measured now, most wanted first."""
        out: list[str] = []
        now = time.monotonic()
        for track_id in self._candidates(state, now):
            if len(out) >= limit:
                break
            track = state.tracks.get(track_id)
            if track is None or track.analysis is not None or track_id in out:
                continue
            if (track_id, track.revision) in self._measured:
                continue
            progress = self._progress.get(track_id)
            if progress is not None and progress.revision == track.revision:
                if progress.not_before > now:
                    continue
            out.append(track_id)
        return out

    def spec_for(self, state: State, track_id: str) -> specs.AnalyseSpec | None:
        """The job that measures the next chunk of `track_id`."""
        track = state.tracks.get(track_id)
        if track is None:
            return None
        progress = self._progress.get(track_id)
        if progress is None or progress.revision != track.revision:
            progress = self._progress[track_id] = _Progress(track.revision)
        source = str(self.library_root / track.path)
        return specs.AnalyseSpec(
            source, track_id, track.revision, progress.index, self.chunk_seconds, track.path
        )

    def due_in(self, state: State) -> float | None:
        """Seconds until there may be new work without anything else happening: the library
        changed since it was ordered, or a failed chunk comes due again (None: nothing)."""
        now = time.monotonic()
        due = [p.not_before for p in self._progress.values() if p.not_before > now]
        if state.tracks is not self._ordered_from:
            due.append(self._ordered_at + REFRESH_S)
        return max(0.0, min(due) - now) if due else None

    def _candidates(self, state: State, now: float) -> list[str]:
        first = [t for t in (state.playback.track, state.cache.next_track) if t is not None]
        if state.tracks is not self._ordered_from and now - self._ordered_at >= REFRESH_S:
            waiting = [(t.path, name) for name, t in state.tracks.items() if t.analysis is None]
            waiting_ids = {name for _, name in waiting}
            self._order = [name for _, name in sorted(waiting)]
            self._ordered_at, self._ordered_from = now, state.tracks
            known = set(state.tracks)
            for gone in [t for t in self._progress if t not in known]:
                del self._progress[gone]
            self._measured = {(t, r) for t, r in self._measured if t in waiting_ids}
        return [*first, *self._order]

    def took(self, spec: specs.AnalyseSpec, reply: Reply) -> Measured:
        """The events a finished job brings (none when it was cancelled)."""
        progress = self._progress.get(spec.track)
        if progress is None or progress.revision != spec.revision or progress.index != spec.index:
            return Measured([], 0)  # the track changed meanwhile
        if reply.kind == "cancelled":
            return Measured([], 0)
        if reply.kind != "done":
            progress.failures += 1
            progress.not_before = time.monotonic() + self.retry_s
            if progress.failures < MAX_FAILURES:
                return Measured([], 0)
            del self._progress[spec.track]
            self._measured.add((spec.track, spec.revision))
            reason = f"analysis failed: {reply.kind} {reply.detail}".strip()
            return Measured([progress.result(spec.track, reason)], 0)
        measure: ChunkMeasure = reply.result
        progress.add(measure)
        events: list[DomainEvent] = [measure.features]
        if measure.ended:
            del self._progress[spec.track]
            self._measured.add((spec.track, spec.revision))
            events.append(progress.result(spec.track))
        return Measured(events, 1)
