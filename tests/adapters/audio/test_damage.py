"""Damaged files: renders and the analysis deliver what decodes past the damage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adapters.audio.analysis import analyse_track
from adapters.audio.decode import read_frames
from adapters.audio.presets import TrackLevel
from adapters.audio.render import decode_flac, render_chunk
from domain.events import ChunkAnalysed, ChunkFailed, ChunkKey, ChunkRendered, TrackAnalysed
from storage.chunks import FileChunkStore
from tests.adapters.audio import signals

RATE = 44100


def damaged_flac(tmp_path: Path, seconds: float = 8.0, at: float = 0.4) -> tuple[Path, np.ndarray]:
    audio = signals.music(seconds, RATE)
    path = signals.write(tmp_path / "hurt.flac", audio, RATE)
    signals.damage(path, at=at, length=4096)
    return path, audio


def track_of(events: list[ChunkAnalysed | TrackAnalysed]) -> TrackAnalysed:
    track = events[-1]
    assert isinstance(track, TrackAnalysed)
    return track


def test_the_analysis_covers_the_whole_track_and_records_the_damage(tmp_path: Path) -> None:
    path, audio = damaged_flac(tmp_path)
    events = analyse_track(path, "t", 0, chunk_seconds=1.0)
    track = track_of(events)
    assert track.frames == audio.shape[0]  # the timeline reaches the end, past the damage
    (span,) = track.damaged
    assert track.decodable_frames == audio.shape[0] - span.frames
    assert track.neutral_reason is None and len(events) == 1 + 8
    intact = track_of(analyse_track(signals.write(tmp_path / "ok.flac", audio, RATE), "t", 0))
    assert track.loudness_db == pytest.approx(intact.loudness_db, abs=0.2)


def test_a_chunk_with_damage_delivers_what_decodes_past_it(tmp_path: Path) -> None:
    path, audio = damaged_flac(tmp_path)
    (span,) = read_frames(path, 0, 10**9).damaged
    index = span.start // RATE
    store = FileChunkStore(tmp_path / "chunks")
    key = ChunkKey("t", 0, "warm", 0, index)
    event = render_chunk(path, key, TrackLevel(), store, chunk_seconds=1.0)
    assert isinstance(event, ChunkRendered) and event.short
    inside = min(span.start + span.frames, (index + 1) * RATE) - span.start
    assert event.frames == RATE - inside and event.damaged[0].start == span.start
    samples, _ = decode_flac(store.read(key, size=event.bytes, checksum=event.checksum))
    start = index * RATE
    keep = np.ones(RATE, dtype=bool)
    keep[span.start - start : span.start - start + inside] = False
    expected = audio[start : start + RATE][keep]
    assert np.abs(samples - expected).max() <= 1 / 32768  # bypass: the decodable input
    after = render_chunk(
        path, ChunkKey("t", 0, "warm", 7, index + 1), TrackLevel(), store, chunk_seconds=1.0
    )
    assert isinstance(after, ChunkRendered)


def test_a_chunk_entirely_inside_damage_fails_as_corrupt(tmp_path: Path) -> None:
    audio = signals.music(3.0, RATE)
    path = signals.write(tmp_path / "hurt.flac", audio, RATE)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle - 40_000 : middle + 40_000] = (
        np.random.default_rng(5).integers(0, 256, 80_000, dtype=np.uint8).tobytes()
    )
    path.write_bytes(bytes(data))
    spans = read_frames(path, 0, 10**9).damaged
    assert spans and max(s.frames for s in spans) > 0.6 * RATE
    big = max(spans, key=lambda s: s.frames)
    store = FileChunkStore(tmp_path / "chunks")
    # with chunks a quarter of the damage long, one of them lies wholly inside it
    inside = big.start // round(0.25 * big.frames) + 2
    event = render_chunk(
        path,
        ChunkKey("t", 0, "punchy", 5, inside),
        TrackLevel(),
        store,
        chunk_seconds=round(0.25 * big.frames) / RATE,
    )
    assert isinstance(event, ChunkFailed) and event.reason == "corrupt"
    assert "damaged" in event.detail and str(tmp_path) not in event.detail


def test_a_file_of_which_nothing_decodes_is_unreadable(tmp_path: Path) -> None:
    path = signals.write(tmp_path / "dead.flac", signals.music(2.0, RATE), RATE)
    data = bytearray(path.read_bytes())
    first_frame = data.find(b"\xff\xf8", 42)
    junk = np.random.default_rng(9).integers(0, 256, len(data), dtype=np.uint8).tobytes()
    data[first_frame:] = junk[: len(data) - first_frame]
    path.write_bytes(bytes(data))
    track = track_of(analyse_track(path, "t", 0))
    assert track.neutral_reason == "unreadable: corrupt" and track.frames == 0


def test_a_short_loud_track_is_not_silent(tmp_path: Path) -> None:
    path = signals.write(tmp_path / "blip.wav", signals.sine(0.25, RATE, 440, 0.9), RATE)
    events = analyse_track(path, "t", 0)
    track = track_of(events)
    assert track.neutral_reason is None
    longer = signals.write(tmp_path / "tone.wav", signals.sine(3.0, RATE, 440, 0.9), RATE)
    assert track.loudness_db == pytest.approx(
        track_of(analyse_track(longer, "t", 0)).loudness_db, abs=0.1
    )
    assert isinstance(events[0], ChunkAnalysed) and events[0].energy == 1.0
