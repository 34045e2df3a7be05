"""`tierbuffer render`: a preview is the service's own chunk, and bad input is one line, exit 2."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from adapters.audio.presets import TrackLevel
from adapters.audio.render import decode_flac, render_chunk
from adapters.cli import main
from adapters.runtime.jobs import analyse, level, render
from adapters.runtime.specs import AnalyseSpec, RenderSpec
from domain.events import ChunkFailed, ChunkKey, ChunkRendered, TrackLevelled
from domain.state import Level
from storage.chunks import FileChunkStore
from tests.adapters.audio import signals

RATE = 44100


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["render", *argv], out=out)
    return code, out.getvalue()


def test_a_preview_equals_the_chunk_the_service_renders(tmp_path: Path) -> None:
    source = signals.write(tmp_path / "song.ogg", signals.loud_master(5.0, RATE), RATE)
    out = tmp_path / "preview.flac"
    code, text = run(str(source), "--preset", "punchy", "--intensity", "0.7", "--start", "2",
                     "--seconds", "2", "--out", str(out))  # fmt: skip
    assert code == 0 and "dBTP" in text
    preview, rate = decode_flac(out.read_bytes())
    assert rate == RATE and preview.shape == (2 * RATE, 2)
    (levelled,) = level(
        RenderSpec(str(source), ChunkKey("t", 0, "punchy", 7, 1), None, None, "", 30.0)
    )
    assert isinstance(levelled, TrackLevelled)
    store = FileChunkStore(tmp_path / "chunks")
    key = ChunkKey("t", 0, "punchy", 7, 1)
    track_level = TrackLevel.of(levelled.loudness_db, levelled.peak)
    chunk = render_chunk(source, key, track_level, store, chunk_seconds=2.0)
    assert isinstance(chunk, ChunkRendered)
    served, _ = decode_flac(store.read(key, size=chunk.bytes, checksum=chunk.checksum))
    assert np.array_equal(preview, served)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--preset", "loud"], "--preset 'loud': not one of"),
        (["--preset", "warm", "--intensity", "1.5"], "--intensity 1.5: must be between 0 and 1"),
        (["--preset", "warm", "--intensity", "lots"], "--intensity 'lots': not a number"),
        (["--preset", "warm", "--seconds", "0"], "--seconds 0.0: must be more than 0"),
        (["--preset", "warm", "--start", "-1"], "--start -1.0: must be 0 or more"),
        (["--preset", "warm", "--start", "99"], "--start 99.0: the audio ends at 1.00 s"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    source = signals.write(tmp_path / "a.flac", signals.music(1.0, RATE), RATE)
    code, _ = run(str(source), *args, "--out", str(tmp_path / "o.flac"))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("tierbuffer: error: ") and words in err
    assert err.count("\n") == 1 and not (tmp_path / "o.flac").exists()


@pytest.mark.parametrize(
    ("name", "content", "out", "words"),
    [
        ("gone.flac", None, "o.flac", "gone.flac: missing"),
        ("junk.mp3", bytes(range(256)) * 20, "o.flac", "junk.mp3: corrupt"),
        ("notes.txt", b"hello", "o.flac", "notes.txt: unsupported"),
        ("a.flac", "audio", "o.wav", "must name a .flac file"),
        ("a.flac", "audio", "no/such/dir/o.flac", "its folder does not exist"),
    ],
)
def test_bad_files_are_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes | str | None,
    out: str,
    words: str,
) -> None:
    source = tmp_path / name
    if content == "audio":
        signals.write(source, signals.music(1.0, RATE), RATE)
    elif isinstance(content, bytes):
        source.write_bytes(content)
    code, _ = run(str(source), "--preset", "warm", "--out", str(tmp_path / out))
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1 and "Traceback" not in err


def test_worker_jobs_name_the_file_by_its_display_name(tmp_path: Path) -> None:
    key = ChunkKey("t", 0, "warm", 5, 0)
    gone = str(tmp_path / "Artist" / "gone.flac")
    cache = str(tmp_path / "c")
    level_known = Level(-14.0, 1.0)
    (named,) = render(RenderSpec(gone, key, level_known, None, cache, 30.0, "Artist/gone.flac"))
    assert isinstance(named, ChunkFailed) and named.detail == "Artist/gone.flac: missing"
    (default,) = render(RenderSpec(gone, key, level_known, None, cache, 30.0))
    assert isinstance(default, ChunkFailed) and default.detail == "gone.flac: missing"
    (first,) = level(RenderSpec(gone, key, None, None, cache, 30.0, "Artist/gone.flac"))
    assert isinstance(first, ChunkFailed) and first.detail == "Artist/gone.flac: missing"
    (measure,) = [analyse(AnalyseSpec(gone, "t", 0, 0, 30.0, "Artist/gone.flac"))]
    assert measure.features.neutral_reason == "unreadable: missing" and measure.ended
