"""Hypothesis strategies for sequences of `Recorded` events, and one sample of every event type.

Values stay inside each event's schema (what the codec would accept on read), but are otherwise
unconstrained: track ids collide often (so adds, modifications, moves and deletes meet), times are
either a monotonic-ish walk (with occasional steps backwards) or arbitrary, and every event type of
`EVENT_TYPES` can appear, including the ones the playback rules ignore.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from hypothesis import strategies as st

from domain.events import (
    EVENT_TYPES,
    PRESETS,
    BudgetsSet,
    ChunkAnalysed,
    ChunkFailed,
    ChunkFileLost,
    ChunkKey,
    ChunkRendered,
    ChunkRenderStarted,
    ChunkRequested,
    DomainEvent,
    Event,
    Fingerprint,
    IntensityChanged,
    MemoryPressureChanged,
    NewEvent,
    Paused,
    PositionReported,
    PresetChanged,
    Recorded,
    Resumed,
    Seeked,
    ServiceStarted,
    ServiceStopped,
    Stopped,
    TrackAdded,
    TrackAnalysed,
    TrackChanged,
    TrackDeleted,
    TrackLevelled,
    TrackModified,
    TrackMoved,
)

#: A realistic "now": 2025-11-24T16:00:00Z in ms.
T0 = 1_764_000_000_000
MAX_INT64 = 2**63 - 1

FINGERPRINT = Fingerprint(size=4_800_000, mtime_ns=1_700_000_000_000_000_000, content_hash="ab12")

_KEY = {"track": "t1", "revision": 0, "preset": "warm", "intensity_tenths": 5, "index": 3}

#: A valid payload of every event type, keyed by type name. Names the running code does not know
#: (yet) are skipped, so a sample may be written before its event type is merged.
SAMPLE_PAYLOADS: dict[str, dict[str, Any]] = {
    "TrackAdded": {
        "track": "t1",
        "path": "albums/a/01.flac",
        "fingerprint": msgspec.to_builtins(FINGERPRINT),
        "duration_ms": 245_000,
        "sample_rate": 44_100,
        "channels": 2,
    },
    "TrackModified": {
        "track": "t1",
        "path": "albums/a/01.flac",
        "fingerprint": {"size": 4_900_000, "mtime_ns": -5, "content_hash": "cd34"},
        "duration_ms": 246_000,
        "sample_rate": 48_000,
        "channels": 1,
    },
    "TrackMoved": {"track": "t1", "path": "albums/b/01 – ünïcode.flac"},
    "TrackDeleted": {"track": "t1"},
    "TrackUnreadable": {"path": "albums/b/broken.m4a", "reason": "unsupported", "detail": "m4a"},
    "TrackChanged": {"track": "t1", "position_ms": 12_000},
    "PositionReported": {"position_ms": 13_500},
    "Seeked": {"position_ms": 90_000},
    "PresetChanged": {"preset": "bright"},
    "IntensityChanged": {"intensity": 0.35},
    "Paused": {},
    "Resumed": {},
    "Stopped": {},
    "NextTrackQueued": {"track": "t2"},
    "ChunkRequested": {"key": _KEY},
    "ChunkQueued": {"key": _KEY},
    "ChunkRenderStarted": {"key": _KEY},
    "ChunkRendered": {
        "key": _KEY,
        "path": "chunks/t1/0/warm/5/3.f32",
        "bytes": 10_584_000,
        "checksum": "9f" * 32,
        "frames": 1_323_000,
        "render_ms": 412,
        "short": True,
    },
    "ChunkFailed": {"key": _KEY, "reason": "corrupt", "detail": "bad frame at 12.3 s"},
    "ChunkFileLost": {"key": _KEY, "detail": "checksum mismatch"},
    "ChunkAnalysed": {
        "track": "t1",
        "revision": 0,
        "index": 3,
        "energy": 0.5,
        "brightness": 0.25,
        "dynamics": 1.0,
        "vocals": 0.0,
        "rhythm": 0.125,
        "neutral_reason": None,
    },
    "TrackAnalysed": {
        "track": "t1",
        "revision": 0,
        "loudness_db": -14.25,
        "peak": 0.98,
        "frames": 10_804_500,
        "neutral_reason": "silent",
    },
    "TrackLevelled": {"track": "t1", "revision": 0, "loudness_db": -11.5, "peak": 0.97},
    "BudgetsSet": {"l1_bytes": 64 << 20, "l2_bytes": 512 << 20, "l3_bytes": 4 << 30},
    "MemoryPressureChanged": {"level": "warning", "used_fraction": 0.82},
    "ServiceStarted": {"version": "0.1.0"},
    "ServiceStopped": {"reason": "signal"},
    "WritesResumed": {"cause": "busy", "down_ms": 12_000, "refused": 3, "deferred": 2},
}

#: One valid instance of every known event type (validated against its schema by msgspec).
SAMPLES: dict[str, Event] = {
    name: msgspec.convert({"type": name, **payload}, DomainEvent)
    for name, payload in SAMPLE_PAYLOADS.items()
    if name in EVENT_TYPES
}

# --- building blocks ------------------------------------------------------------------------------

#: A small pool, so that library events and track changes keep meeting the same tracks.
track_ids = st.one_of(
    st.sampled_from([f"t{i}" for i in range(6)]),
    st.text(min_size=1, max_size=12),
)
paths = st.sampled_from(["a/01.flac", "a/02.flac", "b/x.wav", "c/ü.ogg"])
millis = st.one_of(st.integers(0, 600_000), st.integers(0, MAX_INT64))
counts = st.integers(0, 2**40)
positives = st.integers(1, 384_000)
unit = st.floats(0.0, 1.0, allow_nan=False)
fingerprints = st.builds(
    Fingerprint,
    size=st.integers(0, 10**9),
    mtime_ns=st.integers(-(2**62), 2**62),
    content_hash=st.sampled_from(["a", "b", "c"]),
)
presets = st.sampled_from(PRESETS)
chunk_keys = st.builds(
    ChunkKey,
    track=track_ids,
    revision=st.integers(0, 5),
    preset=presets,
    intensity_tenths=st.integers(0, 10),
    index=st.integers(0, 40),
)


def _upsert(cls: type[TrackAdded] | type[TrackModified]) -> st.SearchStrategy[Event]:
    return st.builds(
        cls,
        track=track_ids,
        path=paths,
        fingerprint=fingerprints,
        duration_ms=st.integers(0, 900_000),
        sample_rate=positives,
        channels=st.integers(1, 8),
    )


library_events: st.SearchStrategy[Event] = st.one_of(
    _upsert(TrackAdded),
    _upsert(TrackModified),
    st.builds(TrackMoved, track=track_ids, path=paths),
    st.builds(TrackDeleted, track=track_ids),
)

interaction_events: st.SearchStrategy[Event] = st.one_of(
    st.builds(TrackChanged, track=track_ids, position_ms=millis),
    st.builds(PositionReported, position_ms=millis),
    st.builds(Seeked, position_ms=millis),
    st.builds(PresetChanged, preset=presets),
    st.builds(IntensityChanged, intensity=unit),
    st.just(Paused()),
    st.just(Resumed()),
    st.just(Stopped()),
)

finite = st.floats(-200.0, 200.0, allow_nan=False, allow_infinity=False)
other_events: st.SearchStrategy[Event] = st.one_of(
    st.builds(ChunkRequested, key=chunk_keys),
    st.builds(ChunkRenderStarted, key=chunk_keys),
    st.builds(
        ChunkRendered,
        key=chunk_keys,
        path=paths,
        bytes=counts,
        checksum=st.text(max_size=8),
        frames=counts,
        render_ms=counts,
        short=st.booleans(),
    ),
    st.builds(
        ChunkFailed,
        key=chunk_keys,
        reason=st.sampled_from(["missing", "corrupt", "timeout", "crashed", "short"]),
        detail=st.text(max_size=8),
    ),
    st.builds(ChunkFileLost, key=chunk_keys, detail=st.text(max_size=8)),
    st.builds(
        ChunkAnalysed,
        track=track_ids,
        revision=st.integers(0, 5),
        index=st.integers(0, 40),
        energy=unit,
        brightness=unit,
        dynamics=unit,
        vocals=unit,
        rhythm=unit,
        neutral_reason=st.none() | st.text(max_size=8),
    ),
    st.builds(
        TrackAnalysed,
        track=track_ids,
        revision=st.integers(0, 5),
        loudness_db=finite,
        peak=finite,
        frames=counts,
        neutral_reason=st.none() | st.text(max_size=8),
    ),
    st.builds(
        TrackLevelled,
        track=track_ids,
        revision=st.integers(0, 5),
        loudness_db=finite,
        peak=finite,
    ),
    st.builds(BudgetsSet, l1_bytes=counts, l2_bytes=counts, l3_bytes=counts),
    st.builds(
        MemoryPressureChanged,
        level=st.sampled_from(["normal", "warning", "critical", "emergency"]),
        used_fraction=unit,
    ),
    st.builds(ServiceStarted, version=st.text(max_size=8)),
    st.builds(ServiceStopped, reason=st.text(max_size=8)),
    st.sampled_from(list(SAMPLES.values())),  # every type, including ones added since
)

#: Mostly playback and library events, sometimes anything else.
any_event: st.SearchStrategy[Event] = st.one_of(
    interaction_events, interaction_events, library_events, library_events, other_events
)

# --- times and sequences --------------------------------------------------------------------

#: Steps of a monotonic-ish clock: mostly forwards, sometimes backwards (a client clock stepped).
steps = st.one_of(st.integers(0, 120_000), st.integers(0, 120_000), st.integers(-60_000, 0))


@st.composite
def times(draw: st.DrawFn, n: int) -> list[int]:
    """`n` occurred-at times: a monotonic-ish walk from around T0, or arbitrary non-negative ms."""
    if draw(st.booleans()):
        now = draw(st.integers(T0 - 10**9, T0 + 10**9))
        walk = []
        for _ in range(n):
            now = max(0, now + draw(steps))
            walk.append(now)
        return walk
    return draw(st.lists(st.integers(0, 2**53), min_size=n, max_size=n))


def event_id(seq: int) -> str:
    return str(uuid.UUID(int=seq))


def recorded(events: Iterable[tuple[int, Event]], *, first_seq: int = 1) -> list[Recorded]:
    """(occurred_at, event) pairs as the log would hand them to the projection."""
    return [
        Recorded(seq=seq, event_id=event_id(seq), occurred_at=at, recorded_at=at, event=event)
        for seq, (at, event) in enumerate(events, start=first_seq)
    ]


def as_new(log: Sequence[Recorded]) -> list[NewEvent]:
    """The same events on their way into a store (which assigns the same sequence numbers)."""
    return [NewEvent(r.event_id, r.occurred_at, r.event) for r in log]


@st.composite
def recorded_logs(
    draw: st.DrawFn,
    events: st.SearchStrategy[Event] = any_event,
    min_size: int = 0,
    max_size: int = 40,
) -> list[Recorded]:
    """A log: events with sequence numbers 1..n and times from `times`."""
    chosen = draw(st.lists(events, min_size=min_size, max_size=max_size))
    return recorded(zip(draw(times(len(chosen))), chosen, strict=True))


@st.composite
def split_logs(
    draw: st.DrawFn, events: st.SearchStrategy[Event] = any_event, max_size: int = 40
) -> tuple[list[Recorded], list[Recorded]]:
    """A log cut in two at a random point: (head, tail)."""
    log = draw(recorded_logs(events, max_size=max_size))
    cut = draw(st.integers(0, len(log)))
    return log[:cut], log[cut:]


def assert_samples_cover_event_types() -> None:
    missing = sorted(set(EVENT_TYPES) - set(SAMPLES))
    assert not missing, f"add a sample of {missing} to tests/support/strategies.py SAMPLES"
