"""A real browser for the report: headless Chromium screenshots, and a PNG reader to look at them.

`chromium()` finds the browser; when it is missing the tests that need it are skipped with the
reason, except under CI (`$CI` or `$TIERBUFFER_REQUIRE_BROWSER` set), where a missing browser is
a failure: `.ci/run` installs it, so its absence there is a broken set-up, not a reason to skip.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

Pixel = tuple[int, int, int]


def chromium() -> str:
    for candidate in CANDIDATES:
        found = shutil.which(candidate)
        if found is not None:
            return found
    reason = "Chromium not found (apt-get install chromium); .ci/run installs it"
    if os.environ.get("CI") or os.environ.get("TIERBUFFER_REQUIRE_BROWSER"):
        pytest.fail(f"{reason}, and CI must not skip this test")
    pytest.skip(reason)


def screenshot(page: Path, png: Path, *, width: int = 900, height: int = 2400) -> None:
    """Render `page` in headless Chromium, with a fresh profile, to `png`."""
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="tierbuffer-chromium-") as profile:
        result = subprocess.run(
            [
                browser,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": profile},
        )
    assert png.exists(), result.stderr[-2000:]


class Image:
    """An 8-bit RGB or RGBA PNG, decoded with the standard library."""

    def __init__(self, width: int, height: int, rows: list[bytes], channels: int) -> None:
        self.width, self.height, self.rows, self.channels = width, height, rows, channels

    def pixel(self, x: int, y: int) -> Pixel:
        row, at = self.rows[y], x * self.channels
        return row[at], row[at + 1], row[at + 2]


def read_png(path: Path) -> Image:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, idat, header = 8, b"", b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        at += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    channels = 3 if colour == 2 else 4
    return Image(width, height, _unfilter(zlib.decompress(idat), width, height, channels), channels)


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> list[bytes]:
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return rows


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c
