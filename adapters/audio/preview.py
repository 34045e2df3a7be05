"""Preview a preset on any audio file: `tierbuffer render FILE --preset NAME ... --out OUT.flac`.

The exact path the service takes for a chunk: the track's level is measured as before its first
render (`measure_level`, whose loudness sets the chain), the span is rendered by `render_span`
(the window with pre- and post-roll that `render_chunk` decodes) and encoded by `encode_flac`.
Intensity is quantised to tenths, as the service's chunk keys are.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from adapters.audio.decode import open_audio
from adapters.audio.errors import AudioError
from adapters.audio.level import measure_level
from adapters.audio.measure import loudness_lufs, true_peak_db
from adapters.audio.presets import TrackLevel, chain_for
from adapters.audio.render import encode_flac, render_span
from domain.events import PRESETS, FrameSpan, Preset

DEFAULT_SECONDS = 30.0


class PreviewError(AudioError):
    """A preview request that cannot be carried out; `what` names the bad input."""

    def __init__(self, what: str, value: object, why: str) -> None:
        super().__init__(f"{what} {value!r}: {why}")
        self.what = what
        self.value = value
        self.why = why


@dataclass(frozen=True, slots=True)
class Preview:
    """What was written: the span rendered, and its measurements beside the source's."""

    out: Path
    preset: Preset
    tenths: int
    sample_rate: int
    start: int
    frames: int
    bytes: int
    source_lufs: float  # the track's level, as measured before its first render
    lufs: float  # the rendered span
    true_peak_dbtp: float
    damaged: tuple[FrameSpan, ...]

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def render_preview(
    source: Path,
    preset: str,
    intensity: float,
    out: Path,
    *,
    start_s: float = 0.0,
    seconds: float = DEFAULT_SECONDS,
) -> Preview:
    """Render `seconds` from `start_s` of `source` through `preset` at `intensity` into the
    FLAC file `out`. Raises `PreviewError` for bad arguments, `AudioReadError` for a file that
    cannot be decoded."""
    name = _preset(preset)
    tenths = _tenths(intensity)
    _check_span(start_s, seconds)
    if out.suffix.lower() != ".flac":
        raise PreviewError("--out", str(out), "must name a .flac file")
    if not out.parent.is_dir():
        raise PreviewError("--out", str(out), "its folder does not exist")
    loudness, peak = measure_level(source, name=str(source))
    level = TrackLevel.of(loudness, peak)
    with open_audio(source, name=str(source)) as reader:
        rate = reader.info.sample_rate
        start = round(start_s * rate)
        chain = chain_for(name, tenths / 10.0, level) if tenths else None
        span = render_span(reader, start, max(1, round(seconds * rate)), chain)
        end = (reader.info.declared_frames or 0) / rate
    if span.delivered == 0:
        raise PreviewError("--start", start_s, f"the audio ends at {end:.2f} s")
    data = encode_flac(span.samples, rate)
    _write(out, data)
    return Preview(
        out, name, tenths, rate, start, span.delivered, len(data), loudness,
        loudness_lufs(span.samples, rate), true_peak_db(span.samples), span.damaged,
    )  # fmt: skip


def _preset(value: str) -> Preset:
    for preset in PRESETS:
        if preset == value:
            return preset
    raise PreviewError("--preset", value, f"not one of {', '.join(PRESETS)}")


def _tenths(intensity: float) -> int:
    if not (math.isfinite(intensity) and 0.0 <= intensity <= 1.0):
        raise PreviewError("--intensity", intensity, "must be between 0 and 1")
    return round(intensity * 10)


def _check_span(start_s: float, seconds: float) -> None:
    if not (math.isfinite(start_s) and start_s >= 0.0):
        raise PreviewError("--start", start_s, "must be 0 or more seconds")
    if not (math.isfinite(seconds) and 0.0 < seconds <= 3600.0):
        raise PreviewError("--seconds", seconds, "must be more than 0 and at most 3600")


def _write(out: Path, data: bytes) -> None:
    """Write through a temporary name and rename: never half a file under `out`."""
    temp = out.with_name(f".{out.name}.part")
    try:
        temp.write_bytes(data)
        os.replace(temp, out)
    except OSError as e:
        temp.unlink(missing_ok=True)
        raise PreviewError("--out", str(out), e.strerror or str(e)) from e
