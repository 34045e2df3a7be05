"""Tiers, eviction, the render plan, hits and misses, retries, lifecycle, memory pressure."""

from __future__ import annotations

from domain.events import (
    BudgetsSet,
    ChunkFailed,
    ChunkFileLost,
    ChunkQueued,
    ChunkRendered,
    ChunkRenderStarted,
    ChunkRequested,
    MemoryPressureChanged,
    NextTrackQueued,
    PositionReported,
    PresetChanged,
    Seeked,
    ServiceStarted,
    TrackChanged,
    TrackDeleted,
    TrackModified,
)
from domain.plan import MAX_ATTEMPTS, evict
from domain.state import MB, Budgets, Held, State
from domain.tiers import chunk_id, estimate_chunk_bytes
from tests.domain.planning.given import Log, key, track_added

CHUNK = estimate_chunk_bytes(
    __import__("domain.state", fromlist=["Track"]).Track(
        "a.flac", track_added().fingerprint, 240_000, 44_100, 2
    ),
    0,
)


TICK = ServiceStarted("tick")  # an event that changes nothing but lets event time pass


def rendered(k: object, size: int = CHUNK) -> ChunkRendered:
    assert hasattr(k, "index")
    return ChunkRendered(k, f"{chunk_id(k)}.flac", size, "x", 0, 10)  # type: ignore[arg-type]


def playing(duration_ms: int = 240_000) -> Log:
    log = Log()
    log.at(0, track_added("a", duration_ms), track_added("b"), TrackChanged("a"))
    return log


def wanted(state: State, tier: str) -> set[tuple[str, int]]:
    return {(w.key.preset, w.key.index) for w in state.cache.wanted.values() if w.tier == tier}


def test_estimate_is_flac_16_bit_of_30_seconds() -> None:
    assert CHUNK == 44_100 * 2 * 2 * 30 * 60 // 100


def planned(state: State) -> set[tuple[str, int]]:
    return {(j.key.preset, j.key.index) for j in state.cache.plan}


def test_l1_holds_c_and_c1_of_the_current_preset_and_a_new_listener_switches_rarely() -> None:
    state = playing().state
    assert {("adaptive", 0), ("adaptive", 1)} <= wanted(state, "L1")
    # Nothing learned: a switch within the chunk is a 1-in-4 chance, spread over the other
    # presets by the defaults: no other preset is likely enough for L1, and only the most
    # likely one (gentle, .4 of a switch) is worth a render.
    assert {preset for preset, _ in wanted(state, "L1")} == {"adaptive"}
    assert {preset for preset, _ in planned(state)} == {"adaptive", "gentle"}


def test_a_habit_of_switching_every_minute_covers_the_likely_preset_when_it_is_due() -> None:
    log = playing(3_600_000)
    at = 0
    for _ in range(4):  # adaptive -> warm -> adaptive ..., a minute apart
        at += 60_000
        log.at(at, PresetChanged("warm"))
        at += 60_000
        log.at(at, PresetChanged("adaptive"))
    just_after = log.at(at + 1_000, TICK)
    assert ("warm", just_after.cache.basis.index) not in planned(just_after)  # not due yet
    due = log.at(at + 40_000, TICK)  # the usual gap ends within this chunk
    assert ("warm", due.cache.basis.index) in wanted(due, "L1") | wanted(due, "L2")
    assert ("warm", due.cache.basis.index) in planned(due)
    assert ("gentle", due.cache.basis.index) not in planned(due)


def test_a_burst_of_switches_covers_every_presets_current_chunk() -> None:
    log = playing()
    log.at(1_000, PresetChanged("warm"))
    log.at(1_100, PresetChanged("bright"))
    state = log.at(1_200, PresetChanged("punchy"))
    c = state.cache.basis.index
    assert {(p, c) for p in ("adaptive", "gentle", "warm", "bright")} <= planned(state)


def test_a_listener_who_plays_through_stops_paying_for_switches() -> None:
    log = playing(3_600_000)
    for second in range(5, 20 * 30 + 5, 5):  # twenty chunks, a position every 5 s, no switch
        state = log.at(second * 1_000, PositionReported(position_ms=second * 1_000))
    assert state.predictor.switch_rate < 0.01
    assert {preset for preset, _ in planned(state)} == {"adaptive"}
    c = state.cache.basis.index
    assert {("adaptive", c + i) for i in range(1, 5)} <= planned(state)  # likely: read ahead


def test_the_next_chunk_of_a_listener_who_often_leaves_is_rendered_late_in_the_chunk() -> None:
    log = Log()
    log.at(0, *(track_added(t) for t in "abcdefgh"), TrackChanged("a"))
    for n, track in enumerate("bcdefg", start=1):  # each left 10 s in
        log.at(n * 10_000, TrackChanged(track))
    early = log.at(60_000 + 1_000, TICK)
    assert early.predictor.skip_rate > 0.7
    assert ("adaptive", 1) not in planned(early)  # likely left before it is needed
    late = log.at(60_000 + 23_000, TICK)  # still here two thirds in: likely to stay
    assert ("adaptive", 1) in planned(late)


def test_the_checkpoint_is_a_position_so_a_faster_player_reaches_it_too() -> None:
    log = Log()
    log.at(0, *(track_added(t) for t in "abcdefgh"), TrackChanged("a"))
    for n, track in enumerate("bcdefg", start=1):
        log.at(n * 10_000, TrackChanged(track))
    log.at(60_000, PositionReported(position_ms=0))
    # A player at twice the speed: 12 s of event time later the playhead is 24 s in, past the
    # checkpoint, although 22 s of event time have not passed since the chunk began.
    early = log.at(60_000 + 6_000, PositionReported(position_ms=12_000))
    assert ("adaptive", 1) not in planned(early)
    late = log.at(60_000 + 12_000, PositionReported(position_ms=24_000))
    assert late.cache.basis is not None and late.cache.basis.index == 0
    assert ("adaptive", 1) in planned(late)


def test_l2_continue_and_l3_read_ahead() -> None:
    state = playing().state
    assert {("adaptive", 2), ("adaptive", 3), ("adaptive", 4)} <= wanted(state, "L2")
    assert {("adaptive", i) for i in range(5, 8)} <= wanted(state, "L3")  # 8 chunks in all


def test_a_seekers_track_is_rendered_where_a_seek_may_land_not_a_listener_who_seeked_once() -> None:
    once = playing(600_000)
    once.at(10_000, Seeked(position_ms=200_000))
    c = once.state.cache.basis.index
    assert {index for _, index in planned(once.state)} <= {c, c + 1}  # read ahead only
    log = playing(300_000)  # ten chunks: the L2 budget holds them all
    for n in range(1, 9):  # a seek every 10 s
        log.at(n * 10_000, Seeked(position_ms=n * 5_000))
    state = log.state
    assert state.predictor.seek_rate > 0.5
    c = state.cache.basis.index
    count = 300_000 // 30_000
    assert {("adaptive", i) for i in range(count) if i > c + 1} <= wanted(state, "L2")
    assert {("adaptive", i) for i in range(count)} <= planned(state)  # needed at once if landed


def test_plan_is_ordered_waiting_then_l1_l2_l3() -> None:
    log = playing()
    state = log.at(10, ChunkRequested(key(3)))
    deadlines = [job.deadline for job in state.cache.plan]
    assert deadlines[0] == "waiting" and state.cache.plan[0].key == key(3)
    order = {"waiting": 0, "L1": 1, "L2": 2, "L3": 3}
    assert [order[d] for d in deadlines] == sorted(order[d] for d in deadlines)
    assert [job.priority for job in state.cache.plan] == list(range(len(deadlines)))


def test_plan_skips_in_flight_rendered_failed_and_past_the_end() -> None:
    log = playing(duration_ms=70_000)  # chunks 0, 1, 2 only
    log.at(1, ChunkQueued(key(0)))
    log.at(2, ChunkRenderStarted(key(1)))
    log.at(3, rendered(key(2, "gentle")))
    state = log.at(4, ChunkFailed(key(0, "gentle"), "corrupt"))
    planned = {chunk_id(j.key) for j in state.cache.plan}
    for k in (key(0), key(1), key(2, "gentle"), key(0, "gentle")):
        assert chunk_id(k) not in planned
    assert all(j.key.index <= 2 for j in state.cache.plan)


def test_request_hit_and_miss() -> None:
    log = playing()
    log.at(10, rendered(key(0)))
    state = log.at(20, ChunkRequested(key(0)))
    assert (state.stats.requests, state.stats.hits_l1, state.stats.misses) == (1, 1, 0)
    state = log.at(30, ChunkRequested(key(1)))
    assert state.stats.misses == 1 and state.cache.waiting
    assert state.cache.plan[0].deadline == "waiting"
    state = log.at(40, rendered(key(1)))
    assert not state.cache.waiting


def test_only_ready_chunks_are_hits() -> None:
    log = playing()
    log.at(10, ChunkRenderStarted(key(0)))
    assert log.at(20, ChunkRequested(key(0))).stats.misses == 1


def test_eviction_lowest_probability_then_least_recently_used() -> None:
    def held(i: int, probability: float, used: int) -> Held:
        return Held(key(i), "L3", probability, CHUNK, f"{i}.flac", used)

    entries = {
        "old-cold": held(1, 0.0, 5),
        "new-cold": held(2, 0.0, 9),
        "likely": held(3, 0.5, 1),
        "less": held(4, 0.2, 20),
    }
    kept, evicted = evict(entries, Budgets(0, 0, 2 * CHUNK))
    assert evicted == ["old-cold", "new-cold"]
    kept, evicted = evict(entries, Budgets(0, 0, CHUNK))
    assert evicted == ["old-cold", "new-cold", "less"] and list(kept) == ["likely"]


def test_newcomer_with_lowest_probability_is_the_one_evicted() -> None:
    log = playing()
    log.at(0, BudgetsSet(18 * MB, 36 * MB, CHUNK))
    log.at(5, rendered(key(5)))  # L3 read-ahead, p .5·.9³
    state = log.at(6, rendered(key(7, "punchy")))  # unwanted: cold, p 0
    assert chunk_id(key(5)) in state.cache.held
    assert chunk_id(key(7, "punchy")) not in state.cache.held


def test_changing_track_keeps_old_chunks_as_cold_entries() -> None:
    log = playing()
    log.at(5, rendered(key(0)))
    state = log.at(6, TrackChanged("b"))
    entry = state.cache.held[chunk_id(key(0))]
    assert (entry.tier, entry.probability) == ("L3", 0.0)


def test_failed_chunk_retried_with_backoff_then_left_alone() -> None:
    log = playing()
    state = log.at(10, ChunkFailed(key(0), "corrupt"))
    assert key(0) not in [j.key for j in state.cache.plan]
    retry = state.cache.failures[chunk_id(key(0))].retry_at
    state = log.at(retry, TICK)
    assert key(0) in [j.key for j in state.cache.plan]
    at = retry
    for _ in range(MAX_ATTEMPTS - 1):
        state = log.at(at, ChunkFailed(key(0), "timeout"))
        at = state.cache.failures[chunk_id(key(0))].retry_at + 1
    state = log.at(at + 10**5, TICK)
    assert state.cache.failures[chunk_id(key(0))].attempts == MAX_ATTEMPTS
    assert key(0) not in [j.key for j in state.cache.plan]


def test_cancelled_render_is_not_a_failure() -> None:
    log = playing()
    log.at(1, ChunkRenderStarted(key(0)))
    state = log.at(2, ChunkFailed(key(0), "cancelled"))
    assert chunk_id(key(0)) not in state.cache.failures
    assert state.cache.plan[0].key == key(0)


def test_track_deleted_removes_every_chunk_of_it_and_lists_files() -> None:
    log = playing()
    log.at(1, rendered(key(0)), rendered(key(1, "warm")), rendered(key(0, track="b")))
    state = log.at(2, TrackDeleted("a"))
    assert all(h.key.track != "a" for h in state.cache.held.values())
    assert sorted(state.cache.discarded) == sorted(
        [f"{chunk_id(key(0))}.flac", f"{chunk_id(key(1, 'warm'))}.flac"]
    )
    assert all(j.key.track != "a" for j in state.cache.plan)


def test_track_modified_invalidates_chunks_and_analysis_and_replans_new_revision() -> None:
    log = playing()
    log.at(1, rendered(key(0)))
    changed = track_added("a")
    modified = TrackModified(
        "a", "a.flac", changed.fingerprint.__class__(2, 2, "new"), 240_000, 44_100, 2
    )
    state = log.at(2, modified)
    assert state.tracks["a"].revision == 1
    assert not state.cache.held and "a" not in state.analysis
    assert state.cache.plan and all(j.key.revision == 1 for j in state.cache.plan)
    assert log.at(3, rendered(key(0))).ignored >= 1  # an old-revision render is refused


def test_file_lost_forgets_the_chunk_and_replans_it() -> None:
    log = playing()
    log.at(1, rendered(key(0)))
    state = log.at(2, ChunkFileLost(key(0)))
    assert chunk_id(key(0)) not in state.cache.held
    assert key(0) in [j.key for j in state.cache.plan]


def test_memory_pressure_shrinks_budgets_and_evicts() -> None:
    log = playing()
    for i in range(8):
        log.at(1, rendered(key(i)))
    state = log.at(2, MemoryPressureChanged("critical", 0.9))
    assert all(h.tier == "L1" for h in state.cache.held.values())
    assert sum(h.bytes for h in state.cache.held.values()) <= 9 * MB
    state = log.at(3, MemoryPressureChanged("emergency", 0.97))
    assert list(state.cache.held) == [chunk_id(key(0))]
    assert [j.key for j in state.cache.plan] == []
    state = log.at(4, MemoryPressureChanged("warning", 0.8))
    assert not wanted(state, "L3") and wanted(state, "L2")


def test_next_track_first_chunk_is_prepared() -> None:
    log = playing()
    state = log.at(1, NextTrackQueued("b"))
    assert ("adaptive", 0) in {
        (w.key.preset, w.key.index) for w in state.cache.wanted.values() if w.key.track == "b"
    }


def test_seek_replans_around_the_new_position() -> None:
    log = playing()
    state = log.at(10, Seeked(150_000))
    assert state.cache.basis is not None and state.cache.basis.index == 5
    assert state.cache.plan[0].key == key(5)


def test_preset_change_replans_l1_for_the_new_preset() -> None:
    log = playing()
    state = log.at(10, PresetChanged("punchy"))
    assert ("punchy", 0) in wanted(state, "L1") and state.cache.plan[0].key == key(0, "punchy")
