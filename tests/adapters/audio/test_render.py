"""render_chunk end to end: decode, DSP, FLAC, chunk store, outcome events."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf  # type: ignore[import-untyped]

from adapters.audio.decode import read_frames
from adapters.audio.presets import CEILING, TrackLevel, render_samples
from adapters.audio.render import decode_flac, encode_flac, render_chunk
from domain.events import ChunkFailed, ChunkKey, ChunkRendered, Preset
from storage.chunks import FileChunkStore
from tests.adapters.audio import signals


def key(preset: Preset = "punchy", tenths: int = 7, index: int = 0) -> ChunkKey:
    return ChunkKey("artist/song.flac", 0, preset, tenths, index)


def rendered(event: ChunkRendered | ChunkFailed) -> ChunkRendered:
    assert isinstance(event, ChunkRendered), event
    return event


def load(store: FileChunkStore, event: ChunkRendered) -> np.ndarray:
    data = store.read(event.key, size=event.bytes, checksum=event.checksum)
    samples, _ = decode_flac(data)
    return samples


@pytest.mark.parametrize("ext", ["flac", "ogg", "mp3"])
def test_chunk_files_join_into_the_whole_render(
    tmp_path: Path, store: FileChunkStore, level: TrackLevel, ext: str
) -> None:
    rate = 44100
    path = signals.write(tmp_path / f"song.{ext}", signals.music(3.5, rate), rate)
    events = [
        rendered(render_chunk(path, key(index=i), level, store, chunk_seconds=1.0))
        for i in range(4)
    ]
    assert [e.frames for e in events[:3]] == [rate] * 3
    assert not any(e.short for e in events)
    joined = np.concatenate([load(store, e) for e in events])
    source = read_frames(path, 0, 10**9).samples
    whole = decode_flac(encode_flac(render_samples(source, rate, "punchy", 7, level), rate))[0]
    assert joined.shape == whole.shape
    assert np.abs(joined - whole).max() <= 1.0 / 32768 + 1e-9  # at most one 16-bit step


def test_a_real_thirty_second_chunk(
    tmp_path: Path, store: FileChunkStore, level: TrackLevel
) -> None:
    rate = 44100
    path = signals.write(tmp_path / "long.ogg", signals.music(32.0, rate), rate)
    first = rendered(render_chunk(path, key("adaptive", 5, 0), level, store))
    assert first.frames == 30 * rate and not first.short
    assert store.path_of(first.key).stat().st_size == first.bytes
    last = rendered(render_chunk(path, key("adaptive", 5, 1), level, store))
    assert 0 < last.frames <= 2 * rate + 2048 and not last.short  # the remainder, not dropped


def test_bypass_of_a_16_bit_source_is_bit_exact_on_disk(
    tmp_path: Path, store: FileChunkStore, level: TrackLevel
) -> None:
    rate = 8000
    path = signals.write(tmp_path / "a.wav", signals.noise(2.0, rate), rate)
    event = rendered(render_chunk(path, key("warm", 0, 1), level, store, chunk_seconds=1.0))
    assert np.array_equal(load(store, event), read_frames(path, rate, rate).samples)


def test_a_chunk_past_the_real_end_fails_as_short(
    tmp_path: Path, store: FileChunkStore, level: TrackLevel
) -> None:
    path = signals.write(tmp_path / "a.flac", signals.sine(1.5, 8000), 8000)
    event = render_chunk(path, key(index=3), level, store, chunk_seconds=1.0)
    assert isinstance(event, ChunkFailed) and event.reason == "short"
    assert list(store.files()) == []


def test_a_truncated_track_gives_a_recorded_short_chunk(
    tmp_path: Path, store: FileChunkStore, level: TrackLevel
) -> None:
    rate = 44100
    path = signals.write(tmp_path / "a.mp3", signals.music(4.0, rate), rate)
    signals.truncate(path, 0.55)
    events = [render_chunk(path, key(index=i), level, store, chunk_seconds=1.0) for i in range(4)]
    kinds = [(type(e).__name__, getattr(e, "short", None)) for e in events]
    assert ("ChunkRendered", True) in kinds  # the chunk where the audio stops is flagged
    assert isinstance(events[0], ChunkRendered) and not events[0].short
    assert isinstance(events[-1], ChunkFailed) and events[-1].reason == "short"


def test_known_track_length_flags_a_short_chunk_the_header_cannot(
    tmp_path: Path, store: FileChunkStore, level: TrackLevel
) -> None:
    path = signals.write(tmp_path / "a.flac", signals.sine(1.5, 8000), 8000)
    event = rendered(
        render_chunk(path, key(index=1), level, store, chunk_seconds=1.0, track_frames=16000)
    )
    assert event.frames == 4000 and event.short


def test_sanitised_samples_are_counted_in_the_event(
    tmp_path: Path, store: FileChunkStore, level: TrackLevel
) -> None:
    audio = signals.sine(1.0, 8000)
    audio[100:110] = np.nan
    audio[200:205] = 70.0  # beyond +18 dBFS: garbage
    audio[300:305] = 1.3  # overs: kept, and limited
    path = tmp_path / "f.wav"
    sf.write(str(path), audio, 8000, subtype="FLOAT")
    event = rendered(render_chunk(path, key(), level, store, chunk_seconds=1.0))
    assert event.sanitised == 2 * 10 + 2 * 5
    out = load(store, event)
    assert np.isfinite(out).all() and np.abs(out).max() <= CEILING


_RENDER_ONE_CHUNK = """
import sys
from pathlib import Path
from adapters.audio.presets import TrackLevel
from adapters.audio.render import render_chunk
from domain.events import ChunkKey
from storage.chunks import FileChunkStore
key = ChunkKey("artist/song.flac", 0, sys.argv[2], 7, 1)
level = TrackLevel(-9.0, 1.0, True)
event = render_chunk(Path(sys.argv[1]), key, level, FileChunkStore(sys.argv[3]), chunk_seconds=2.0)
print(event.checksum)
"""


@pytest.mark.parametrize("preset", ["punchy", "warm"])
def test_a_chunk_renders_to_the_same_bytes_every_time(tmp_path: Path, preset: Preset) -> None:
    """A replay must find the very chunk it recorded: same bytes in this process, and in a
    fresh one whose BLAS may use other threads (the true peak's matrix products)."""
    rate = 44100
    path = signals.write(tmp_path / "loud.flac", signals.loud_master(5.0, rate), rate)
    level = TrackLevel(-9.0, 1.0, True)
    stores = [FileChunkStore(tmp_path / f"s{i}") for i in range(2)]
    checksums = {
        rendered(render_chunk(path, key(preset, 7, 1), level, s, chunk_seconds=2.0)).checksum
        for s in stores
    }
    root = Path(__file__).resolve().parents[3]
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        args = [str(path), preset, str(tmp_path / f"p{threads}")]
        command = [sys.executable, "-c", _RENDER_ONE_CHUNK, *args]
        run = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=True)
        checksums.add(run.stdout.strip())
    assert len(checksums) == 1


def _file(folder: Path, name: str, content: bytes | None) -> Path:
    path = folder / name
    if content is not None:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("gone.flac", None, "missing"),
        ("empty.flac", b"", "corrupt"),
        ("x.m4a", b"\0" * 64, "unsupported"),
        ("bad.ogg", b"OggS" + bytes(300), "corrupt"),
    ],
)
def test_unreadable_sources_become_failed_events(
    tmp_path: Path,
    store: FileChunkStore,
    level: TrackLevel,
    name: str,
    content: bytes | None,
    reason: str,
) -> None:
    path = _file(tmp_path, name, content)
    event = render_chunk(path, key(), level, store, name=f"artist/{name}")
    assert isinstance(event, ChunkFailed) and event.reason == reason
    assert event.detail.startswith(f"artist/{name}: ")
    assert str(tmp_path) not in event.detail  # the library-relative name, never the absolute path
    default = render_chunk(path, key(), level, store)
    assert isinstance(default, ChunkFailed) and default.detail.startswith(f"{name}: ")
