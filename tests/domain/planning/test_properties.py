"""Properties of the planning fold over arbitrary interleavings of listener and worker events."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.events import (
    PRESETS,
    BudgetsSet,
    ChunkFailed,
    ChunkFileLost,
    ChunkKey,
    ChunkRendered,
    ChunkRenderStarted,
    ChunkRequested,
    DomainEvent,
    MemoryPressureChanged,
    NextTrackQueued,
    Paused,
    PositionReported,
    PresetChanged,
    Recorded,
    Resumed,
    Seeked,
    TrackChanged,
    TrackDeleted,
    TrackModified,
)
from domain.plan import blocked, budget_of, evict
from domain.policy import audit_mark
from domain.projection import evolve, fold
from domain.state import MB, State, decode_state, encode_state, state_hash
from domain.tiers import TIERS, budgets_in_force, chunk_id, is_current, now_playing
from tests.domain.planning.given import track_added

TRACKS = ("a", "b")
keys = st.builds(
    ChunkKey,
    st.sampled_from(TRACKS),
    st.integers(0, 1),
    st.sampled_from(PRESETS),
    st.sampled_from([5, 5, 5, 7]),
    st.integers(0, 9),
)
events: st.SearchStrategy[DomainEvent] = st.one_of(
    st.builds(TrackChanged, st.sampled_from(TRACKS), st.integers(0, 250_000)),
    st.builds(PositionReported, st.integers(0, 250_000)),
    st.builds(Seeked, st.integers(0, 250_000)),
    st.builds(PresetChanged, st.sampled_from(PRESETS)),
    st.just(Paused()),
    st.just(Resumed()),
    st.builds(NextTrackQueued, st.sampled_from(TRACKS)),
    st.builds(ChunkRequested, keys),
    st.builds(ChunkRenderStarted, keys),
    st.builds(
        ChunkRendered,
        keys,
        st.just("p.flac"),
        st.integers(1, 6 * MB),
        st.just("c"),
        st.just(1),
        st.just(1),
    ),
    st.builds(ChunkFailed, keys, st.sampled_from(["corrupt", "timeout", "cancelled"])),
    st.builds(ChunkFileLost, keys),
    st.builds(
        MemoryPressureChanged,
        st.sampled_from(["normal", "warning", "critical", "emergency"]),
        st.just(0.5),
    ),
    st.builds(
        BudgetsSet, st.integers(0, 20 * MB), st.integers(0, 40 * MB), st.integers(0, 50 * MB)
    ),
    st.builds(TrackDeleted, st.sampled_from(TRACKS)),
)
gaps = st.sampled_from([0, 20, 60, 150, 700, 5_000, 31_000])


@st.composite
def logs(draw: st.DrawFn, max_size: int = 60) -> list[Recorded]:
    setup: list[DomainEvent] = [track_added("a", 200_000), track_added("b", 95_000)]
    body = draw(st.lists(st.tuples(gaps, events), max_size=max_size))
    out: list[Recorded] = []
    at = 0
    for event in setup:
        out.append(Recorded(len(out) + 1, f"e{len(out) + 1}", at, at, event))
    for gap, event in body:
        at += gap
        if isinstance(event, TrackDeleted) and draw(st.booleans()):
            event = TrackModified(
                "a", "a.flac", track_added().fingerprint.__class__(9, at, "x"), 200_000, 48_000, 2
            )
        out.append(Recorded(len(out) + 1, f"e{len(out) + 1}", at, at, event))
    return out


def states(log: list[Recorded]) -> list[State]:
    out, state = [], State()
    for recorded in log:
        state = evolve(state, recorded)
        out.append(state)
    return out


@settings(max_examples=150, deadline=None)
@given(logs())
def test_no_tier_ever_exceeds_its_budget(log: list[Recorded]) -> None:
    for state in states(log):
        budgets = budgets_in_force(state, now_playing(state, state.clock_ms))
        for tier in TIERS:
            used = sum(h.bytes for h in state.cache.held.values() if h.tier == tier)
            assert used <= budget_of(budgets, tier), (tier, state.cache.pressure)
        kept, evicted = evict(dict(state.cache.held), budgets)
        assert not evicted


@settings(max_examples=150, deadline=None)
@given(logs())
def test_plan_never_holds_rendered_in_flight_failed_or_out_of_range_chunks(
    log: list[Recorded],
) -> None:
    for state in states(log):
        cache = state.cache
        idents = [chunk_id(job.key) for job in cache.plan]
        assert len(idents) == len(set(idents))
        for job, ident in zip(cache.plan, idents, strict=True):
            assert ident not in cache.held and ident not in cache.inflight
            assert not blocked(cache.failures.get(ident), state.clock_ms)
            assert is_current(state, job.key)


@settings(max_examples=150, deadline=None)
@given(logs())
def test_exploration_never_changes_the_transition_counts(log: list[Recorded]) -> None:
    state = State()
    for recorded in log:
        after = evolve(state, recorded)
        if audit_mark(state, recorded) in ("exploring", "not-learned", "throttled"):
            assert after.predictor.counts == state.predictor.counts
        state = after


@settings(max_examples=150, deadline=None)
@given(logs())
def test_a_preset_change_is_never_lost(log: list[Recorded]) -> None:
    state = State()
    for recorded in log:
        state = evolve(state, recorded)
        if isinstance(recorded.event, PresetChanged):
            assert state.playback.preset == recorded.event.preset
            if state.cache.basis is not None:
                assert state.cache.basis.preset == recorded.event.preset


@settings(max_examples=100, deadline=None)
@given(logs(), st.integers(0, 80))
def test_prefix_snapshot_rest_equals_full_replay(log: list[Recorded], cut: int) -> None:
    cut = min(cut, len(log))
    snapshot = decode_state(encode_state(fold(log[:cut])))
    assert state_hash(fold(log[cut:], snapshot)) == state_hash(fold(log))
