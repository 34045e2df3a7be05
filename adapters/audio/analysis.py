"""Analyse a track: content features per chunk and the track's loudness, as events.

`analyse_track` decodes the file once, forward, chunk by chunk (nothing is allocated from the
header's frame count), and returns one `ChunkAnalysed` per chunk followed by one `TrackAnalysed`.
The caller appends them, so predictions and renders built on them replay from the log.

Loudness is integrated loudness after ITU-R BS.1770-4: K-weighting (a +4 dB high shelf at
1.68 kHz and a 38 Hz high-pass), mean square over 400 ms blocks with 75 % overlap, an absolute
gate at -70 LUFS and a relative gate 10 LU below the mean of the blocks that passed it. All
channels are weighted 1 (the standard gives surround channels 1.41).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import signal  # type: ignore[import-untyped]

from adapters.audio.decode import DecodedAudio, chunk_frames, open_audio
from adapters.audio.errors import AudioReadError
from domain.events import ChunkAnalysed, FrameSpan, TrackAnalysed
from domain.features import Features, chunk_features, neutral

SILENT_LUFS: Final = -70.0


def k_weighting(sample_rate: int) -> npt.NDArray[np.float64]:
    """BS.1770 K-weighting as two second-order sections at any sample rate (the bilinear
    designs libebur128 uses; at 48 kHz they reproduce the standard's coefficients)."""
    k = math.tan(math.pi * 1681.974450955533 / sample_rate)
    q = 0.7071752369554196
    vh = 10.0 ** (3.999843853973347 / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / q + k * k) / a0,
    ]
    k = math.tan(math.pi * 38.13547087602444 / sample_rate)
    q = 0.5003270373238773
    a0 = 1.0 + k / q + k * k
    high_pass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, high_pass], dtype=np.float64)


class LoudnessMeter:
    """Integrated loudness of audio fed to it in order, in pieces of any size."""

    def __init__(self, sample_rate: int, channels: int) -> None:
        self._sos = k_weighting(sample_rate)
        self._state = np.zeros((self._sos.shape[0], 2, channels))
        self._step = max(1, round(0.1 * sample_rate))  # 100 ms: a quarter of a gating block
        self._carry = np.zeros((0, channels))
        self._steps: list[float] = []

    def feed(self, samples: npt.NDArray[np.float32]) -> None:
        weighted, self._state = signal.sosfilt(
            self._sos, samples.astype(np.float64), axis=0, zi=self._state
        )
        data = np.concatenate((self._carry, weighted)) if self._carry.size else weighted
        whole = data.shape[0] // self._step * self._step
        if whole:
            view = data[:whole].reshape(-1, self._step, data.shape[1])
            self._steps.extend((view * view).mean(axis=1).sum(axis=1).tolist())
        self._carry = data[whole:]

    def loudness_db(self) -> float | None:
        """LUFS, or None when nothing passes the absolute gate (silence, nothing fed).

        Audio shorter than one 400 ms gating block is measured as one block of its own length
        (the standard leaves it undefined; a short loud sound is not silence)."""
        steps = np.asarray(self._steps)
        if steps.size < 4:
            frames = steps.size * self._step + self._carry.shape[0]
            if frames == 0:
                return None
            total = float(steps.sum()) * self._step + float((self._carry**2).sum())
            steps = np.full(4, total / frames)
        blocks = (steps[:-3] + steps[1:-2] + steps[2:-1] + steps[3:]) / 4.0
        blocks = blocks[_lufs(blocks) > SILENT_LUFS]
        if blocks.size == 0:
            return None
        relative = _lufs(np.asarray([blocks.mean()]))[0] - 10.0
        gated = blocks[_lufs(blocks) > relative]
        return float(_lufs(np.asarray([gated.mean()]))[0])


def _lufs(mean_square: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = -0.691 + 10.0 * np.log10(np.maximum(mean_square, 1e-20))
    return out


def analyse_track(
    path: Path | str,
    track: str,
    revision: int,
    *,
    chunk_seconds: float = 30.0,
    name: str | None = None,
) -> list[ChunkAnalysed | TrackAnalysed]:
    """Features of every chunk of `path`, then the track's loudness, peak and real length.

    The whole decodable track is covered: decoding resumes after damaged spans, which are
    recorded in `TrackAnalysed.damaged` and left out of the features and the loudness.
    `TrackAnalysed.frames` is the length of the timeline up to the last frame that decodes, so
    chunk k of the track is frames [k * size, (k + 1) * size) of it. A file of which nothing
    decodes is neutral with reason "unreadable: corrupt"."""
    label = name if name else Path(path).name
    try:
        return _analyse(Path(path), track, revision, chunk_seconds, label)
    except AudioReadError as e:
        return _unreadable(track, revision, e.reason)


def _unreadable(track: str, revision: int, why: str) -> list[ChunkAnalysed | TrackAnalysed]:
    reason = f"unreadable: {why}"
    return [
        _chunk_event(track, revision, 0, neutral(reason)),
        TrackAnalysed(track, revision, SILENT_LUFS, 0.0, 0, reason),
    ]


def _analyse(
    path: Path, track: str, revision: int, chunk_seconds: float, label: str
) -> list[ChunkAnalysed | TrackAnalysed]:
    events: list[ChunkAnalysed | TrackAnalysed] = []
    frames = decodable = sanitised = 0
    damaged: list[FrameSpan] = []
    failed = False
    peak = 0.0
    with open_audio(path, name=label) as reader:
        rate, channels = reader.info.sample_rate, reader.info.channels
        size = chunk_frames(rate, chunk_seconds)
        meter = LoudnessMeter(rate, channels)
        while True:
            decoded = reader.read(size)
            failed = failed or decoded.error is not None
            samples = decoded.decodable()
            if samples.shape[0]:
                meter.feed(samples)
                peak = max(peak, float(np.abs(samples).max()))
                decodable += samples.shape[0]
            if decoded.frames:
                events.append(_chunk_event(track, revision, len(events), _features(decoded)))
            frames += decoded.frames
            damaged.extend(decoded.damaged)
            sanitised += decoded.sanitised.zeroed
            if decoded.ended or decoded.frames < size:
                break
    if decodable == 0 and (failed or damaged):
        return _unreadable(track, revision, "corrupt")
    loudness = meter.loudness_db()
    reason = None if loudness is not None else ("empty" if decodable == 0 else "silent")
    if not events:
        events.append(_chunk_event(track, revision, 0, neutral("empty")))
    level = SILENT_LUFS if loudness is None or not math.isfinite(loudness) else loudness
    events.append(
        TrackAnalysed(track, revision, level, peak, frames, reason, sanitised, _merged(damaged))
    )
    return events


def _merged(spans: list[FrameSpan]) -> tuple[FrameSpan, ...]:
    """Adjacent spans (one damaged stretch met by two reads) as one."""
    out: list[FrameSpan] = []
    for span in spans:
        if out and out[-1].start + out[-1].frames == span.start:
            out[-1] = FrameSpan(out[-1].start, out[-1].frames + span.frames)
        else:
            out.append(span)
    return tuple(out)


def _features(decoded: DecodedAudio) -> Features:
    if decoded.sanitised.non_finite:
        return neutral("non_finite")
    samples = decoded.decodable()
    if samples.shape[0] == 0:
        return neutral("unreadable")
    return chunk_features(samples, decoded.info.sample_rate)


def _chunk_event(track: str, revision: int, index: int, features: Features) -> ChunkAnalysed:
    return ChunkAnalysed(
        track,
        revision,
        index,
        features.energy,
        features.brightness,
        features.dynamics,
        features.vocals,
        features.rhythm,
        features.neutral_reason,
    )
