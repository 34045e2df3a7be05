"""Branch predictor: defaults, counts, recency boost with renormalisation, accuracy, blend."""

from __future__ import annotations

import pytest

from domain.events import ChunkAnalysed, PresetChanged, TrackChanged
from domain.predictor import accuracy, blend, learn, probabilities, ranked
from domain.state import Predictor
from domain.tiers import predicted
from tests.domain.planning.given import Log, track_added


def test_defaults_without_history_exclude_the_current_preset_and_sum_to_one() -> None:
    probs = probabilities(Predictor(), "adaptive", 0)
    assert set(probs) == {"gentle", "warm", "bright", "punchy"}
    assert probs["gentle"] == pytest.approx(0.4)
    assert probs["punchy"] == pytest.approx(0.1)
    assert sum(probs.values()) == pytest.approx(1.0)


def test_counts_are_normalised() -> None:
    p = Predictor()
    for at in (0, 1, 2):
        p = learn(p, "adaptive", "warm", at)
    p = learn(p, "adaptive", "bright", 3)
    probs = probabilities(p, "adaptive", 10 * 60_000)  # all older than 5 minutes
    assert probs == {"warm": pytest.approx(0.75), "bright": pytest.approx(0.25)}


def test_recent_transitions_are_boosted_by_1_5_then_renormalised() -> None:
    p = learn(Predictor(), "adaptive", "warm", 0)
    p = learn(p, "adaptive", "bright", 9 * 60_000)
    probs = probabilities(p, "adaptive", 10 * 60_000)  # only bright is within 5 minutes
    assert probs["bright"] == pytest.approx(1.5 / 2.5)
    assert probs["warm"] == pytest.approx(1.0 / 2.5)
    assert sum(probs.values()) == pytest.approx(1.0)
    assert all(0.0 <= v <= 1.0 for v in probs.values())


def test_accuracy_counts_top_prediction_hits() -> None:
    p = Predictor()
    p = learn(p, "adaptive", "gentle", 0)  # default top is gentle: correct
    p = learn(p, "adaptive", "warm", 1)  # top now gentle: wrong
    assert (p.predictions, p.correct) == (2, 1)
    assert accuracy(p) == pytest.approx(0.5)


def test_ranked_gives_top_n_in_order() -> None:
    probs = probabilities(Predictor(), "warm", 0)
    assert [name for name, _ in ranked(probs, 2)] == ["adaptive", "gentle"]


def test_blend_is_0_7_habit_plus_0_3_affinity_and_sums_to_one() -> None:
    habit = {"warm": 1.0}
    affinity = {"adaptive": 0.0, "gentle": 0.0, "warm": 0.0, "bright": 0.0, "punchy": 1.0}
    mixed = blend(habit, affinity, "adaptive")
    assert mixed == {"warm": pytest.approx(0.7), "punchy": pytest.approx(0.3)}


def test_analysis_of_the_playing_chunk_changes_the_prediction_used_by_the_plan() -> None:
    log = Log()
    log.at(0, track_added("a"), TrackChanged("a"))
    basis = log.state.cache.basis
    assert basis is not None
    before = predicted(log.state, basis, 10)
    state = log.at(10, ChunkAnalysed("a", 0, 0, 1.0, 0.0, 0.0, 0.0, 1.0))
    after = predicted(state, basis, 10)
    assert max(before, key=before.__getitem__) == "gentle"  # the defaults without the current
    assert after["bright"] > before["bright"] and after["punchy"] > before["punchy"]
    assert state.cache.replan_at is not None or state.seq > log.events[-2].seq  # re-planned


def test_first_change_is_a_real_transition_not_a_fake_one_from_adaptive() -> None:
    log = Log()
    log.at(0, track_added("a"), PresetChanged("warm"), TrackChanged("a"))
    state = log.at(5_000, PresetChanged("bright"))
    assert state.predictor.counts == {"warm": {"bright": 1}}
