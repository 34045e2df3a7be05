"""`tierbuffer render FILE --preset NAME [--intensity X] [--start S] [--seconds N] --out OUT.flac`:
preview a preset on any audio file, through the code path the service renders chunks with.

Wired in by the CLI with `cli_render.register(sub)`. numpy and soundfile are imported
when the command runs, not when the CLI starts. Bad input is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from domain.events import PRESETS


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "render",
        help="render a stretch of an audio file through a preset into a FLAC file, "
        "exactly as the service renders a chunk",
    )
    p.add_argument("file", type=Path, help="any audio file libsndfile decodes")
    p.add_argument("--preset", required=True, help=f"one of {', '.join(PRESETS)}")
    p.add_argument("--intensity", default="1.0", help="0 to 1 in steps of 0.1 (default 1.0)")
    p.add_argument("--start", default="0", help="where to start, in seconds (default 0)")
    p.add_argument("--seconds", default="30", help="how much to render (default 30, a chunk)")
    p.add_argument("--out", type=Path, required=True, help="the FLAC file to write")
    p.set_defaults(run=render)


def _number(option: str, text: str) -> float:
    from adapters.audio.preview import PreviewError

    try:
        return float(text)
    except ValueError as e:
        raise PreviewError(option, text, "not a number") from e


async def render(args: argparse.Namespace, out: TextIO) -> int:
    from adapters.audio.errors import AudioError
    from adapters.audio.preview import render_preview

    try:
        made = render_preview(
            args.file,
            args.preset,
            _number("--intensity", args.intensity),
            args.out,
            start_s=_number("--start", args.start),
            seconds=_number("--seconds", args.seconds),
        )
    except AudioError as e:
        print(f"tierbuffer: error: {e}", file=sys.stderr)
        return 2
    damaged = sum(span.frames for span in made.damaged) / made.sample_rate
    note = f"; {damaged:.2f} s damaged, left out" if made.damaged else ""
    print(
        f"rendered {made.seconds:.2f} s from {made.start / made.sample_rate:.2f} s of "
        f"{args.file} through {made.preset} at intensity {made.tenths / 10:.1f} to {made.out} "
        f"({made.bytes} bytes): {made.lufs:.1f} LUFS (track {made.source_lufs:.1f} LUFS), "
        f"true peak {made.true_peak_dbtp:.2f} dBTP{note}",
        file=out,
    )
    return 0
