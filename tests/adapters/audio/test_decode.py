"""Decoding real files of every format, and every way a file breaks."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf  # type: ignore[import-untyped]

from adapters.audio.decode import open_audio, probe, read_chunk, read_frames, sanitise
from adapters.audio.errors import AudioReadError
from tests.adapters.audio import signals

RATES_BY_FORMAT = {
    "wav": (8000, 44100, 96000),
    "flac": (8000, 22050, 96000),
    "ogg": (16000, 44100),
    "opus": (8000, 48000),
    "mp3": (22050, 44100),
}
CASES = [(ext, rate) for ext, rates in RATES_BY_FORMAT.items() for rate in rates]


def wave_with_tag(tag: int) -> bytes:
    """An intact RIFF/WAVE file whose 'fmt ' chunk names codec `tag` (0x674F: Ogg Vorbis)."""
    fmt = struct.pack("<HHIIHH", tag, 2, 44100, 16000, 4, 16)
    data = bytes(4000)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data"
    body += struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(("ext", "rate"), CASES)
@pytest.mark.parametrize("channels", [1, 2])
def test_every_format_decodes_as_float32_and_seeks_to_the_same_samples(
    tmp_path: Path, ext: str, rate: int, channels: int
) -> None:
    audio = signals.music(1.5, rate, channels)
    path = signals.write(tmp_path / f"a.{ext}", audio, rate)
    whole = read_frames(path, 0, 10**9)
    assert whole.samples.dtype == np.float32
    assert whole.samples.shape[1] == channels
    assert whole.info.sample_rate == rate
    assert whole.ended and not whole.truncated and whole.error is None
    assert abs(whole.frames - audio.shape[0]) <= 3000  # lossy codecs add encoder delay/padding
    if ext in signals.LOSSLESS:
        assert np.abs(whole.samples - audio).max() < 1e-4
    start = whole.frames // 3
    part = read_frames(path, start, 1000)
    assert part.start == start and part.frames == 1000
    # exact for every format but MP3, where libmpg123 differs by float rounding after a seek
    assert np.abs(part.samples - whole.samples[start : start + 1000]).max() <= 1e-6


def test_chunks_tile_the_track_and_the_last_one_keeps_the_remainder(tmp_path: Path) -> None:
    rate = 8000
    audio = signals.noise(3.3, rate, channels=1)
    path = signals.write(tmp_path / "a.flac", audio, rate)
    chunks = [read_chunk(path, i, chunk_seconds=1.0) for i in range(4)]
    assert [c.frames for c in chunks] == [8000, 8000, 8000, 2400]
    assert not any(c.truncated for c in chunks)
    assert np.array_equal(
        np.concatenate([c.samples for c in chunks]), read_frames(path, 0, 10**6).samples
    )
    past = read_chunk(path, 5, chunk_seconds=1.0)
    assert past.frames == 0 and past.ended


def test_a_real_thirty_second_chunk_reads_in_blocks(tmp_path: Path) -> None:
    rate = 44100
    path = signals.write(tmp_path / "long.flac", signals.sine(31.0, rate), rate)
    chunk = read_chunk(path, 0)
    assert chunk.frames == 30 * rate and not chunk.ended
    assert read_chunk(path, 1).frames == rate


@pytest.mark.parametrize("ext", ["ogg", "opus", "mp3", "wav"])
def test_truncated_files_return_fewer_frames_and_never_garbage(tmp_path: Path, ext: str) -> None:
    rate = 48000 if ext == "opus" else 44100
    path = signals.write(tmp_path / f"a.{ext}", signals.sine(6.0, rate), rate)
    signals.truncate(path, 0.6)
    decoded = read_frames(path, 0, 10**9)
    assert 0 < decoded.frames < 6 * rate * 0.8
    assert decoded.ended
    assert np.isfinite(decoded.samples).all() and np.abs(decoded.samples).max() <= 1.0


def test_a_truncated_mp3_is_flagged_because_its_xing_header_promised_more(tmp_path: Path) -> None:
    path = signals.write(tmp_path / "a.mp3", signals.sine(3.0, 44100), 44100)
    signals.truncate(path, 0.5)
    decoded = read_frames(path, 0, 10**9)
    assert decoded.info.declared_frames is not None
    assert decoded.frames < decoded.info.declared_frames
    assert decoded.truncated


def test_damaged_flac_decodes_past_the_damage_and_records_the_span(tmp_path: Path) -> None:
    rate = 44100
    audio = signals.music(8.0, rate)
    path = signals.write(tmp_path / "a.flac", audio, rate)
    signals.damage(path, at=0.4, length=4096)
    with pytest.raises(sf.LibsndfileError):  # the naive whole-file read loses everything
        sf.read(str(path))
    decoded = read_frames(path, 0, 10**9)
    assert decoded.error is not None and decoded.ended and decoded.truncated
    assert decoded.frames == audio.shape[0]  # the timeline reaches the real end
    (span,) = decoded.damaged
    assert 0.2 * rate < span.start < 0.6 * decoded.frames and 0 < span.frames < 0.5 * rate
    good = decoded.decodable()
    assert good.shape[0] == decoded.frames - span.frames
    expected = np.concatenate([audio[: span.start], audio[span.start + span.frames :]])
    assert np.abs(good - expected).max() < 1e-4  # bit-exact audio on both sides of the damage


def test_damaged_flac_spans_are_the_same_whichever_read_meets_them(tmp_path: Path) -> None:
    rate = 44100
    path = signals.write(tmp_path / "a.flac", signals.music(8.0, rate), rate)
    signals.damage(path, at=0.5, length=4096)
    (span,) = read_frames(path, 0, 10**9).damaged
    for start in (span.start - 30_000, span.start - 1, span.start + 100):  # before, inside
        part = read_frames(path, start, 60_000)
        (seen,) = part.damaged
        assert seen.start == max(start, span.start)
        assert seen.start + seen.frames == span.start + span.frames
        assert part.frames == 60_000
    with open_audio(path) as reader:  # block by block, forward
        spans = [s for _ in range(12) for s in reader.read(33_333).damaged]
    assert spans[0].start == span.start
    assert sum(s.frames for s in spans) == span.frames


@pytest.mark.parametrize("ext", ["ogg", "opus", "mp3"])
def test_lossy_streams_resynchronise_after_small_damage(tmp_path: Path, ext: str) -> None:
    """Ogg drops damaged pages and libmpg123 resyncs MP3 (within 1 KiB): decoding goes on to
    the end, and what decodes is what is reported."""
    rate = 48000 if ext == "opus" else 44100
    path = signals.write(tmp_path / f"a.{ext}", signals.music(8.0, rate), rate)
    signals.damage(path, at=0.4, length=4096 if ext != "mp3" else 200)
    decoded = read_frames(path, 0, 10**9)
    assert decoded.frames > 0.8 * 8.0 * rate  # well past the damage at 40 %
    assert np.isfinite(decoded.samples).all()
    assert np.abs(decoded.samples).max() <= 8.0


def test_nan_inf_and_absurd_floats_are_zeroed_and_overs_kept(tmp_path: Path) -> None:
    audio = signals.sine(1.0, 8000, channels=1)
    audio[10] = np.nan
    audio[20] = np.inf
    audio[30] = -np.inf
    audio[40] = 3776.9
    audio[50] = -1.49
    audio[60] = 1.2
    path = tmp_path / "float.wav"
    sf.write(str(path), audio, 8000, subtype="FLOAT")
    decoded = read_frames(path, 0, 10**6)
    assert decoded.sanitised.non_finite == 3
    assert decoded.sanitised.absurd == 1 and decoded.sanitised.zeroed == 4
    assert decoded.sanitised.overs == 2
    assert decoded.sanitised.peak == pytest.approx(1.49)
    assert decoded.samples[10, 0] == 0 and decoded.samples[20, 0] == 0
    assert decoded.samples[40, 0] == 0  # garbage, not audio
    assert decoded.samples[50, 0] == np.float32(-1.49)  # an over: signal, kept
    assert decoded.samples[60, 0] == np.float32(1.2)
    assert np.isfinite(decoded.samples).all()


def test_sanitise_leaves_clean_audio_untouched() -> None:
    audio = signals.noise(0.1, 8000)
    before = audio.copy()
    report = sanitise(audio)
    assert not report.changed and np.array_equal(audio, before)


def test_chained_ogg_decodes_without_trusting_its_frame_count(tmp_path: Path) -> None:
    rate = 44100
    one = signals.write(tmp_path / "one.ogg", signals.sine(1.0, rate, 440), rate)
    two = signals.write(tmp_path / "two.ogg", signals.sine(1.5, rate, 880), rate)
    chained = tmp_path / "chained.ogg"
    chained.write_bytes(one.read_bytes() + two.read_bytes())
    decoded = read_frames(chained, 0, 10**9)
    assert decoded.error is None and decoded.ended
    # libsndfile 1.2.2 plays the first logical stream only; what it reads is what we report
    assert decoded.frames >= rate
    info = decoded.info
    assert info.declared_frames is None or decoded.frames <= info.declared_frames


def test_mp3_without_xing_header_reports_the_frames_really_decoded(tmp_path: Path) -> None:
    rate = 44100
    tagged = tmp_path / "tagged.mp3"
    audio = signals.sine(4.3, rate, channels=1)
    sf.write(str(tagged), audio, rate, format="MP3", bitrate_mode="CONSTANT", compression_level=0.5)
    bare = signals.strip_xing(tagged, tmp_path / "bare.mp3")
    decoded = read_frames(bare, 0, 10**9)
    assert decoded.info.declared_frames != decoded.frames  # the header's count is an estimate
    assert decoded.frames > 4 * rate and not decoded.truncated
    beyond = read_frames(bare, decoded.frames + 10, 1000)
    assert beyond.frames == 0 and beyond.ended


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.wav", b"", "empty"),
        ("song.m4a", b"\x00\x00\x00\x20ftypM4A " + bytes(200), "unsupported"),
        ("notes.txt", b"hello", "unsupported"),
        ("garbage.wav", bytes(range(256)) * 40, "corrupt"),
        ("garbage.mp3", b"\x00" * 5000, "corrupt"),
        ("junk.mp3", bytes(range(256)) * 20, "corrupt"),
        ("vorbis.ogg", wave_with_tag(0x674F), "unsupported"),
        ("wma.wav", wave_with_tag(0x0161), "unsupported"),
        ("aac.mp3", b"\x00\x00\x00\x20ftypM4A " + bytes(2000), "unsupported"),
    ],
)
def test_unreadable_files_raise_a_typed_error(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioReadError) as caught:
        read_frames(path, 0, 100)
    assert caught.value.reason == reason
    assert caught.value.path == path
    assert "does not exist" not in str(caught.value)  # libsndfile's misleading words


def test_a_wave_file_of_a_codec_libsndfile_lacks_names_the_format(tmp_path: Path) -> None:
    path = tmp_path / "intact.ogg"
    path.write_bytes(wave_with_tag(0x674F))
    with pytest.raises(AudioReadError) as caught:
        probe(path)
    assert caught.value.reason == "unsupported"
    assert "0x674F" in caught.value.detail and "Ogg Vorbis" in caught.value.detail


def test_errors_name_the_file_by_its_display_name(tmp_path: Path) -> None:
    path = tmp_path / "artist" / "gone.flac"
    with pytest.raises(AudioReadError) as caught, open_audio(path, name="artist/gone.flac"):
        pass
    assert str(caught.value) == "artist/gone.flac: missing"
    assert str(tmp_path) not in str(caught.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioReadError) as missing:
        probe(tmp_path / "gone.flac")
    assert missing.value.reason == "missing" and missing.value.failure_reason == "missing"
    folder = tmp_path / "album.flac"
    folder.mkdir()
    with pytest.raises(AudioReadError) as directory:
        probe(folder)
    assert directory.value.reason == "directory"


def test_content_that_does_not_match_the_extension(tmp_path: Path) -> None:
    flac = signals.write(tmp_path / "a.flac", signals.sine(0.5, 8000), 8000)
    renamed = tmp_path / "a.mp3"
    renamed.write_bytes(flac.read_bytes())
    with pytest.raises(AudioReadError) as caught:
        probe(renamed)
    assert caught.value.reason == "wrong_extension"
    assert "FLAC" in caught.value.detail
    assert caught.value.failure_reason == "unsupported"


PERMISSION_PROBE = """
import sys
from adapters.audio.decode import probe
from adapters.audio.errors import AudioReadError
try:
    probe(sys.argv[1])
except AudioReadError as e:
    print(e.reason)
else:
    print("opened")
"""


def test_a_file_that_cannot_be_read_is_a_permission_error(tmp_path: Path) -> None:
    path = signals.write(tmp_path / "locked.flac", signals.sine(0.2, 8000), 8000)
    path.chmod(0o000)
    command = [sys.executable, "-c", PERMISSION_PROBE, str(path)]
    if os.geteuid() == 0:  # root reads anything: run without the capabilities that allow it
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    root = str(Path(__file__).resolve().parents[3])
    result = subprocess.run(command, capture_output=True, text=True, cwd=root, check=False)
    assert result.stdout.strip() == "permission", result.stderr


MP3_PROBE = """
import sys
from adapters.audio.decode import read_frames
decoded = read_frames(sys.argv[1], 0, 10**9, quiet=sys.argv[2] == "quiet")
print(len(decoded.messages), decoded.frames)
"""


def test_mp3_decoder_warnings_stay_out_of_stderr_and_are_returned(tmp_path: Path) -> None:
    path = signals.write(tmp_path / "a.mp3", signals.sine(3.0, 44100), 44100)
    signals.damage(path, at=0.4, length=3000)
    root = str(Path(__file__).resolve().parents[3])

    def run(mode: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", MP3_PROBE, str(path), mode],
            capture_output=True,
            text=True,
            cwd=root,
            check=True,
        )

    loud = run("loud")
    assert "resync" in loud.stderr.lower() or "illegal" in loud.stderr.lower()
    quiet = run("quiet")
    assert quiet.stderr == ""
    messages, frames = map(int, quiet.stdout.split())
    assert messages > 0 and frames > 0


def test_reader_reads_forward_in_pieces(tmp_path: Path) -> None:
    rate = 8000
    audio = signals.noise(2.0, rate, channels=1)
    path = signals.write(tmp_path / "a.wav", audio, rate)
    with open_audio(path) as reader:
        pieces = [reader.read(3000) for _ in range(6)]
    assert [p.frames for p in pieces] == [3000, 3000, 3000, 3000, 3000, 1000]
    assert pieces[-1].ended and not pieces[0].ended
    assert np.abs(np.concatenate([p.samples for p in pieces]) - audio).max() < 1e-4
