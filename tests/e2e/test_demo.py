"""`tierbuffer demo` as a new user runs it: it talks, its numbers agree with the log and the
report, the commands it prints run, and a refused demo leaves nothing behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.cli.demo import _key
from adapters.demo.session import SCRIPT
from domain.events import IntensityChanged, PresetChanged
from tests.support.audio import write_audio

DEMO = [sys.executable, "-m", "adapters.cli"]


def run(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEMO, *argv], capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
    )


def figures(out: str) -> dict[str, str]:
    """The final table's rows: two spaces, a name, two or more spaces, the value."""
    found = {}
    for line in out.splitlines():
        match = re.fullmatch(r"  (\S.*?)  +(\S.*)", line)
        if match and not line.startswith("  /"):
            found[match.group(1)] = match.group(2)
    return found


@pytest.mark.timeout(900)
def test_the_demo_talks_and_its_numbers_agree_with_the_log(private_places: Path) -> None:
    result = run("demo", "--speed", "100", "--workers", "1")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert result.stderr == ""  # the narration is on stdout; the log only warns
    assert "generating the demo library" in out and "Evening/04 Low Sun.flac (2:20) after" in out
    assert {line.split()[0] for line in out.splitlines() if " after " in line} == {
        "1/4",
        "2/4",
        "3/4",
        "4/4",
    }
    assert "render workers up in" in out  # before the first chunk is asked for
    assert out.index("render workers up in") < out.index("chunk  1/")
    assert "scanning " in out and "4 added" in out
    chunks = [line for line in out.splitlines() if line.startswith("track ")]
    assert len(chunks) >= 16
    for column in ("chunk ", " renders done"):  # aligned, whatever the preset's name
        assert len({line.index(column) for line in chunks}) == 1, chunks
    assert re.search(r"chunk +1/\d+ +adaptive +0\.5 ", chunks[0]), chunks[0]
    table = figures(out)
    events = re.fullmatch(r".*\((\d+) events\)", table["log"])
    assert events is not None
    assert f"verify: ok ({events.group(1)} events checked)" in out
    data, cache = private_places / "xdg_data_home", private_places / "xdg_cache_home"
    assert table["log"].startswith(str(data / "tierbuffer" / "demo" / "generated"))
    assert table["chunks"].startswith(str(cache / "tierbuffer" / "demo" / "generated"))

    commands = out.split("look inside:\n", 1)[1].strip().splitlines()
    assert len(commands) == 3
    for command in commands:  # printed to be pasted: they run as printed
        shell = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
        assert shell.returncode == 0, (command, shell.stderr)
    report = (data / "tierbuffer" / "demo" / "generated" / "report.html").read_text()
    for name in ("chunk requests", "served without waiting", "waited for a render", "renders"):
        assert f"<th>{name}</th><td>{table[name]}</td>" in report  # the same figures


def test_every_demo_session_starts_from_the_same_sound() -> None:
    first = SCRIPT[0][0]
    assert first.chunk == 0
    assert PresetChanged(preset="adaptive") in first.actions
    assert IntensityChanged(intensity=0.5) in first.actions


def _nothing_made(places: Path) -> None:
    made = [p for p in places.rglob("*") if p.is_file()]
    assert made == [], made


def test_a_library_that_is_not_there_is_refused_naming_it(
    private_places: Path, tmp_path: Path
) -> None:
    result = run("demo", "--library", str(tmp_path / "Musik"))
    assert result.returncode == 2 and result.stdout == ""
    missing = f"library folder {tmp_path / 'Musik'} is missing (unmounted, moved or deleted)"
    assert result.stderr == f"tierbuffer: error: {missing}\n"
    _nothing_made(private_places)


def test_a_bad_database_is_refused_before_the_library_is_generated(
    private_places: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("shopping list\n" * 100)
    result = run("--db", str(bad), "demo")
    assert result.returncode == 2 and "not an SQLite database" in result.stderr
    assert "generating" not in result.stdout
    _nothing_made(private_places)


def test_a_library_of_short_files_is_refused_and_nothing_is_created(
    private_places: Path, tmp_path: Path
) -> None:
    write_audio(tmp_path / "samples" / "click.wav", seconds=0.5)
    result = run("demo", "--library", str(tmp_path / "samples"))
    assert result.returncode == 2
    assert "no readable track of a minute or more" in result.stderr
    _nothing_made(private_places)


def test_fresh_starts_this_librarys_demo_over_and_keeps_the_others(
    private_places: Path, tmp_path: Path
) -> None:
    library = tmp_path / "music"
    write_audio(library / "jingle.wav", seconds=0.5)
    data = private_places / "xdg_data_home" / "tierbuffer" / "demo"
    cache = private_places / "xdg_cache_home" / "tierbuffer" / "demo"
    demo_of = {
        name: (data / name / "tierbuffer.db", cache / name / "chunks" / "t" / "c.flac")
        for name in ("generated", "music-" + _key(str(library)))
    }
    for db, chunk in demo_of.values():
        for path in (db, chunk):
            path.parent.mkdir(parents=True)
            path.write_bytes(b"")
    # --fresh deletes this library's demo first; then the library (a jingle) is refused.
    result = run("demo", "--library", str(library), "--fresh")
    assert result.returncode == 2 and "no readable track of a minute" in result.stderr
    own_db, own_chunk = demo_of["music-" + _key(str(library))]
    assert not own_db.exists() and not own_chunk.exists()
    assert all(path.exists() for path in demo_of["generated"])  # another library's demo
    refused = run("--db", str(tmp_path / "mine.db"), "demo", "--fresh")
    assert refused.returncode == 2 and "delete" in refused.stderr
