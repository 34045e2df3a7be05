"""The equaliser's biquad cascade without scipy: what it costs a render, what it saves a worker.

Usage: python bench/iir.py [--rounds R] [--seconds S]

Interleaved in each round (A, B, A, B, ...), on one CPU, single-threaded BLAS:
  equaliser  each preset's bands at intensity 0.7 over S seconds of stereo 44.1 kHz audio:
             `adapters.audio.iir.sosfilt` (A) against `scipy.signal.sosfilt` (B, the anchor,
             from the `bench` extra), and the largest difference between their outputs;
  render     a whole chunk through `render_samples` (punchy 0.7) with either cascade;
  start      a fresh interpreter importing what a render worker preloads (A), against the
             same plus scipy.signal and scipy.ndimage, what a worker imported before (B):
             wall seconds, CPU seconds and peak resident memory.
Prints min / median / max per figure and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from adapters.audio import dsp, iir  # noqa: E402
from adapters.audio.presets import TrackLevel, chain_for, render_samples  # noqa: E402
from adapters.runtime import specs  # noqa: E402
from bench._common import load  # noqa: E402
from domain.events import PRESETS  # noqa: E402

RATE = 44100
WORKER_MODULES = sorted({spec.split(":")[0] for spec in (specs.RENDER, specs.ANALYSE)})


def _stats(values: list[float], scale: float = 1.0, unit: str = "") -> str:
    return (
        f"{min(values) * scale:.1f} / {statistics.median(values) * scale:.1f} / "
        f"{max(values) * scale:.1f}{unit}"
    )


def _timed(run: Callable[[], object]) -> float:
    started = time.process_time()
    run()
    return time.process_time() - started


def _start(extra: str) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of a fresh interpreter importing the worker's modules."""
    code = (
        "import json, resource\n"
        + "".join(f"import {name}\n" for name in WORKER_MODULES)
        + extra
        + "u = resource.getrusage(resource.RUSAGE_SELF)\n"
        # VmHWM: ru_maxrss would carry the parent's peak over the exec
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(json.dumps([u.ru_utime + u.ru_stime, int(hwm.split()[1]) / 1024]))\n"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    wall = time.perf_counter() - started
    cpu, rss = json.loads(done.stdout)
    return wall, cpu, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--seconds", type=float, default=30.0, help="audio length (default 30)")
    args = parser.parse_args()
    try:
        from scipy import signal  # type: ignore[import-untyped]
    except ImportError:
        print("scipy is the anchor: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass

    def anchor(sos: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, None]:
        return signal.sosfilt(sos, np.asarray(x, dtype=np.float64), axis=1), None

    rng = np.random.default_rng(1)
    frames = round(args.seconds * RATE)
    beat = np.sin(2 * np.pi * 55.0 * np.arange(frames) / RATE) * (np.arange(frames) % 22050 < 4000)
    audio = (0.2 * rng.standard_normal((frames, 2)) + 0.5 * beat[:, None]).astype(np.float32)
    x = np.ascontiguousarray(audio.T)
    level = TrackLevel.of(-14.0, 0.9)
    chains = {p: chain_for(p, 0.7, level).bands for p in PRESETS}
    chains = {p: bands for p, bands in chains.items() if bands}
    eq: dict[str, dict[str, list[float]]] = {p: {"A": [], "B": []} for p in chains}
    render: dict[str, list[float]] = {"A": [], "B": []}
    start: dict[str, list[tuple[float, float, float]]] = {"A": [], "B": []}
    worst = 0.0
    print(f"load average before: {load()}")
    for _ in range(args.rounds):
        for preset, bands in chains.items():
            sos = np.stack([band.coefficients(RATE) for band in bands])
            eq[preset]["A"].append(_timed(lambda sos=sos: iir.sosfilt(sos, x)))
            eq[preset]["B"].append(_timed(lambda sos=sos: anchor(sos, x)))
            mine, theirs = iir.sosfilt(sos, x)[0], anchor(sos, x)[0]
            worst = max(worst, float(np.abs(mine - theirs).max()))
        for name, cascade in (("A", iir.sosfilt), ("B", anchor)):
            dsp.iir.sosfilt = cascade  # type: ignore[assignment]
            try:
                render[name].append(_timed(lambda: render_samples(audio, RATE, "punchy", 7, level)))
            finally:
                dsp.iir.sosfilt = iir.sosfilt  # type: ignore[assignment]
        start["A"].append(_start(""))
        start["B"].append(_start("import scipy.signal, scipy.ndimage\n"))
    print(f"load average after: {load()}")
    print(f"\nequaliser, {args.seconds:g} s stereo, CPU ms min / median / max (A: numpy, B: scipy)")
    for preset, runs in eq.items():
        ratio = statistics.median(a / b for a, b in zip(runs["A"], runs["B"], strict=True))
        print(
            f"  {preset:<9} {len(chains[preset])} bands  A {_stats(runs['A'], 1000)}  "
            f"B {_stats(runs['B'], 1000)}  A/B median {ratio:.2f}"
        )
    print(f"  largest |A - B| over every output sample: {worst:.1e}")
    ratio = statistics.median(a / b for a, b in zip(render["A"], render["B"], strict=True))
    print(
        f"\nrender_samples punchy 0.7, {args.seconds:g} s, CPU ms: A {_stats(render['A'], 1000)}"
        f"  B {_stats(render['B'], 1000)}  A/B median {ratio:.2f}"
    )
    print("\nworker start (import of its modules), min / median / max:")
    for name, label in (("A", "without scipy"), ("B", "with scipy.signal + ndimage")):
        runs = start[name]
        print(
            f"  {label:<28} wall {_stats([r[0] for r in runs], 1000, ' ms')}  "
            f"CPU {_stats([r[1] for r in runs], 1000, ' ms')}  "
            f"peak RSS {_stats([r[2] for r in runs], 1, ' MB')}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
