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

from adapters.audio import iir
from adapters.audio.decode import DecodedAudio, chunk_frames, open_audio
from adapters.audio.errors import AudioReadError
from domain.events import ChunkAnalysed, FrameSpan, TrackAnalysed
from domain.features import Features, chunk_features, neutral
from domain.loudness import SILENT_LUFS, ChunkMeasure, gated_loudness, merged


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
        self._state = np.zeros((self._sos.shape[0], channels, 2))
        self._step = max(1, round(0.1 * sample_rate))  # 100 ms: a quarter of a gating block
        self._carry = np.zeros((0, channels))
        self._steps: list[float] = []

    def feed(self, samples: npt.NDArray[np.float32]) -> None:
        filtered, self._state = iir.sosfilt(self._sos, samples.T, self._state)
        weighted = filtered.T
        data = np.concatenate((self._carry, weighted)) if self._carry.size else weighted
        whole = data.shape[0] // self._step * self._step
        if whole:
            view = data[:whole].reshape(-1, self._step, data.shape[1])
            self._steps.extend((view * view).mean(axis=1).sum(axis=1).tolist())
        self._carry = data[whole:]

    @property
    def steps(self) -> list[float]:
        """Mean square (channels summed) of each whole 100 ms step fed so far."""
        return self._steps

    def loudness_db(self) -> float | None:
        """LUFS, or None when nothing passes the absolute gate (silence, nothing fed).

        Audio shorter than one 400 ms gating block is measured as one block of its own length
        (the standard leaves it undefined; a short loud sound is not silence)."""
        steps: list[float] = self._steps
        if len(steps) < 4:
            frames = len(steps) * self._step + self._carry.shape[0]
            if frames == 0:
                return None
            total = float(sum(steps)) * self._step + float((self._carry**2).sum())
            steps = [total / frames] * 4
        return gated_loudness(steps)


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
        TrackAnalysed(track, revision, level, peak, frames, reason, sanitised, merged(damaged))
    )
    return events


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


#: Decoded before a chunk so the K-weighting filters have settled at its first sample.
PREROLL_STEPS: Final = 5


def analyse_chunk(
    path: Path | str,
    track: str,
    revision: int,
    index: int,
    *,
    chunk_seconds: float = 30.0,
    name: str | None = None,
) -> ChunkMeasure:
    """Features and loudness steps of chunk `index` of `path` (an unreadable file measures as
    one empty, neutral chunk that ends the track)."""
    try:
        with open_audio(path, name=name) as reader:
            rate, channels = reader.info.sample_rate, reader.info.channels
            size = chunk_frames(rate, chunk_seconds)
            meter = LoudnessMeter(rate, channels)
            preroll = min(index * size, PREROLL_STEPS * max(1, round(0.1 * rate)))
            reader.seek(index * size - preroll)
            if preroll:
                meter.feed(reader.read(preroll).samples)
            settled = len(meter.steps)
            decoded = reader.read(size)
            samples = decoded.decodable()
            meter.feed(samples)
    except AudioReadError as e:
        empty = _chunk_event(track, revision, index, neutral(f"unreadable: {e.reason}"))
        return ChunkMeasure(empty, [], 0.0, 0, 0, True)
    features = _chunk_event(track, revision, index, _features(decoded))
    peak = float(np.abs(samples).max()) if samples.shape[0] else 0.0
    ended = decoded.ended or decoded.frames < size
    return ChunkMeasure(
        features,
        meter.steps[settled:],
        peak,
        decoded.frames,
        decoded.sanitised.zeroed,
        ended,
        decoded.damaged,
        decoded.error is not None,
    )
