"""A chunk's story from the log: each event that names it or changes where it stands is a step
saying what changed and why, with the policy's mark; nothing else is."""

from __future__ import annotations

from domain.events import (
    BudgetsSet,
    ChunkFailed,
    ChunkQueued,
    ChunkRenderStarted,
    ChunkRequested,
    DomainEvent,
    MemoryPressureChanged,
    PositionReported,
    Seeked,
    TrackDeleted,
)
from domain.explain import Standing, Step, standing, step, summary
from domain.policy import audit_mark
from domain.state import State
from tests.domain.planning.given import Log, key
from tests.domain.planning.test_tiers import CHUNK, TICK, playing, rendered


class Story:
    """A planning log whose steps for one chunk are kept as it grows."""

    def __init__(self, log: Log, index: int) -> None:
        self.log, self.key = log, key(index)
        self.was = standing(log.state, self.key)
        self.steps: list[Step] = []

    def at(self, ms: int, event: DomainEvent) -> list[str]:
        """The changes told for `event` ([] when it is not part of the story)."""
        before = self.log.state
        recorded = self.log.recorded(ms, event)
        after = self.log.at(ms, event)
        found, self.was = step(self.key, self.was, recorded, audit_mark(before, recorded), after)
        if found is None:
            return []
        self.steps.append(found)
        return list(found.changes)

    @property
    def state(self) -> State:
        return self.log.state


def test_planned_queued_rendered_then_evicted_when_the_playhead_passes_it() -> None:
    story = Story(playing(), 1)
    assert story.was.wanted == "L1" and story.was.rank is not None  # the playing chunk's next
    assert story.at(10, ChunkQueued(key(1))) == ["queued for a worker"]
    assert story.at(20, ChunkRenderStarted(key(1))) == ["rendering started"]
    told = story.at(900, rendered(key(1)))
    assert told[0].startswith("rendered: held in L1 (")
    assert summary(story.was, story.state.clock_ms).startswith("ready in L1")
    assert story.at(1_000, PositionReported(5_000)) == []  # changes nothing of it: no step
    assert story.at(2_000, Seeked(200_000)) == [
        "moved from L1 to L3: kept while there is room, first to go",
        "no longer wanted by any tier: the playhead passed it (chunk 6 plays)",
    ]
    told = story.at(3_000, BudgetsSet(CHUNK, CHUNK, 0))  # no room left for it
    assert told == [
        "dropped from L3: evicted: no tier wants it any more (the playhead passed it "
        "(chunk 6 plays))"
    ]
    assert summary(story.was, story.state.clock_ms) == "not wanted: no tier plans it now"


def test_a_miss_is_waited_on_and_its_failures_use_attempts_until_they_are_spent() -> None:
    story = Story(playing(), 0)
    told = story.at(10, ChunkRequested(key(0)))
    assert told[0] == "asked for by the player: a miss, the player waits on it"
    assert story.was.waiting
    told = story.at(20, ChunkFailed(key(0), "corrupt", "bad frame"))
    assert told[0] == (
        "failed (corrupt) (bad frame): attempt 1 of 3; tried again after 10 s (event time 10020)"
    )
    assert "tried again after" in summary(story.was, 5_000)
    assert story.at(5_000, TICK) == []  # not due yet
    told = story.at(10_020, TICK)
    assert told == ["planned again: its retry came due: job 1 in the render plan (waiting)"]
    story.at(10_030, ChunkFailed(key(0), "corrupt"))
    story.at(50_030, TICK)
    told = story.at(50_040, ChunkFailed(key(0), "corrupt"))
    assert told[0].endswith("attempts spent: not tried again until the track's file changes")
    assert story.was.given_up
    assert summary(story.was, 50_040).startswith("failed on every attempt (corrupt)")


def test_a_store_fault_says_no_attempt_was_used() -> None:
    story = Story(playing(), 0)
    told = story.at(10, ChunkFailed(key(0), "no_space", "disk full"))
    assert told[0] == (
        "failed: the chunk store could not take it (no_space) (disk full); a fault of the store, "
        "not of the chunk: no attempt used, tried again after 2 s (event time 2010)"
    )
    assert (story.was.attempts, story.was.waits) == (0, 1)


def test_eviction_under_memory_pressure_and_a_deleted_track_are_named() -> None:
    story = Story(playing(), 3)
    story.at(10, rendered(key(3)))
    told = story.at(20, MemoryPressureChanged("critical", 0.9))
    assert any(t.startswith("dropped from ") and "critical memory pressure" in t for t in told)
    story = Story(playing(), 0)
    story.at(10, rendered(key(0)))
    told = story.at(20, TrackDeleted("a"))
    assert told[0].endswith(": its track was deleted")
    assert standing(story.state, key(0)) == Standing()


def test_an_event_naming_the_chunk_is_a_step_even_when_nothing_changes() -> None:
    story = Story(playing(), 1)
    story.at(10, ChunkFailed(key(1), "cancelled", "no longer planned"))  # not in flight
    assert story.steps[-1].changes == ("no change",)
    assert story.steps[-1].type == "ChunkFailed"
