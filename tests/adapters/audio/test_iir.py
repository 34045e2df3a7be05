"""The biquad cascade as matrix products against the sample-by-sample loop it replaces."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from adapters.audio.analysis import k_weighting
from adapters.audio.dsp import Band
from adapters.audio.iir import BLOCK, GROUP, sosfilt
from adapters.audio.truepeak import PHASES, _phase

CHAINS = {
    "warm-like": (
        Band("high_pass", 20.0),
        Band("low_shelf", 120.0, 4.0),
        Band("peak", 300.0, 1.5, 0.9),
        Band("high_shelf", 6000.0, -3.0),
    ),
    "one peak": (Band("peak", 2500.0, -6.0, 2.0),),
    "near-cancelling peak": (Band("peak", 1000.0, 0.01, 1.0),),
}


def loop(sos: npt.NDArray[np.float64], x: npt.NDArray[np.float64], zi: npt.NDArray[np.float64]):
    """Direct form II transposed, one sample at a time, in extended precision."""
    out = np.empty(x.shape, dtype=np.longdouble)
    end = np.empty(zi.shape, dtype=np.longdouble)
    for row in range(x.shape[0]):
        signal = x[row].astype(np.longdouble)
        for k, (b0, b1, b2, _, a1, a2) in enumerate(sos.astype(np.longdouble)):
            z0, z1 = zi[k, row].astype(np.longdouble)
            filtered = np.empty_like(signal)
            for i, v in enumerate(signal):
                y = b0 * v + z0
                z0, z1 = b1 * v - a1 * y + z1, b2 * v - a2 * y
                filtered[i] = y
            signal = filtered
            end[k, row] = (z0, z1)
        out[row] = signal
    return out, end


def sos_of(chain: tuple[Band, ...], rate: int) -> npt.NDArray[np.float64]:
    return np.stack([band.coefficients(rate) for band in chain])


@pytest.mark.parametrize("name", sorted(CHAINS))
@pytest.mark.parametrize("frames", [1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * GROUP * BLOCK + 5])
def test_the_cascade_is_the_loop_to_round_off(name: str, frames: int) -> None:
    rng = np.random.default_rng(frames)
    sos = sos_of(CHAINS[name], 44100)
    x = 0.3 * rng.standard_normal((2, frames))
    zi = 0.1 * rng.standard_normal((len(sos), 2, 2))
    want, want_end = loop(sos, x, zi)
    got, end = sosfilt(sos, x, zi)
    scale = float(np.abs(want).max())
    assert got.shape == x.shape and end.shape == zi.shape
    assert np.abs(got - want).max() <= 1e-11 * max(scale, 1.0)
    assert np.abs(end - want_end).max() <= 1e-11 * max(float(np.abs(want_end).max()), 1.0)


def test_a_signal_fed_in_pieces_is_the_signal_fed_whole() -> None:
    """The state handed on is exact: K-weighting fed 30 s in uneven pieces, as the loudness
    meter feeds it, is the same as fed at once."""
    rng = np.random.default_rng(7)
    sos = k_weighting(48000)
    x = rng.standard_normal((2, 48000 * 30)).astype(np.float32)
    whole, whole_end = sosfilt(sos, x)
    cuts = [0, 1, 1000, BLOCK * GROUP * 7 + 3, 480000, 480001, x.shape[1]]
    state = np.zeros((len(sos), 2, 2))
    pieces = []
    for first, last in zip(cuts, cuts[1:], strict=False):
        piece, state = sosfilt(sos, x[:, first:last], state)
        pieces.append(piece)
    assert np.abs(np.concatenate(pieces, axis=1) - whole).max() < 1e-12
    assert np.abs(state - whole_end).max() < 1e-12


def test_an_empty_signal_keeps_its_state() -> None:
    sos = sos_of(CHAINS["warm-like"], 44100)
    zi = np.ones((len(sos), 1, 2))
    y, end = sosfilt(sos, np.zeros((1, 0)), zi)
    assert y.shape == (1, 0) and np.array_equal(end, zi)


def test_the_default_state_is_rest() -> None:
    sos = sos_of(CHAINS["one peak"], 22050)
    x = np.random.default_rng(1).standard_normal((1, 5000))
    assert np.array_equal(sosfilt(sos, x)[0], sosfilt(sos, x, np.zeros((1, 1, 2)))[0])


@pytest.mark.parametrize(
    ("sos", "x", "zi", "message"),
    [
        (np.ones((1, 5)), np.zeros((1, 10)), None, "sos must be"),
        (np.array([[1.0, 0, 0, 2.0, 0, 0]]), np.zeros((1, 10)), None, "sos must be"),
        (np.array([[1.0, 0, 0, 1.0, 0, 0]]), np.zeros(10), None, "x must be"),
        (np.array([[1.0, 0, 0, 1.0, 0, 0]]), np.zeros((2, 10)), np.zeros((1, 1, 2)), "zi must"),
    ],
)
def test_bad_arguments_are_refused(sos, x, zi, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sosfilt(sos, x, zi)


def test_an_interpolation_phase_is_the_annex_formula() -> None:
    """Point n of a phase is sum_k taps[k] x[n + k - 6], zeros outside the signal."""
    x = np.random.default_rng(3).standard_normal((2, 40)).astype(np.float32)
    for taps in PHASES:
        want = np.zeros(x.shape)
        for n in range(x.shape[1]):
            for k, tap in enumerate(taps):
                if 0 <= n + k - 6 < x.shape[1]:
                    want[:, n] += float(tap) * x[:, n + k - 6]
        assert np.abs(_phase(x, taps) - want).max() < 1e-6
