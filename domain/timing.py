"""Event time: the one clock of the projection, which no client's clock can break.

Every event carries two times: `occurred_at`, said by whoever sent it (a player's clock, the
service's clock, a session file), and `recorded_at`, the store's clock when it committed the
event. The projection's time (`State.clock_ms`) is decided here, per event, from those two and
the state alone, so a replay reaches the same time on any machine:

- an event's own `occurred_at` is its time when it is *plausible*: no more than
  `FUTURE_SKEW_MS` after the time the store recorded it (nothing is recorded before it happens),
  and no more than `LATE_MS` behind the projection's time so far (clocks of a player and of the
  service differ a little; events arrive a little out of order);
- otherwise the event is *skewed*: its time is the projection's time advanced by what the
  store's clock says passed since the last *live* event (one recorded within `LIVE_MS` of its
  own time: `State.recorded_ms` keeps when the store recorded it), capped at
  `recorded_at + FUTURE_SKEW_MS`; with no live event yet (a log imported from session files)
  it keeps the projection's time. The event stays in the log as it was sent, is counted
  (`State.clock_skewed`) and marked `clock-skew` by the audit (`domain.policy.audit_mark`);
- the projection's time never goes back: an event's time is at least the time before it.

So one event dated year 9999 moves the projection's time by what the store's clock moved, not to
year 9999; a player whose clock is an hour behind the service is timed by the store's clock
instead of being throttled for an hour; and when `occurred_at == recorded_at` (the service's own
facts, the simulator) the rule is the plain monotonic `max(time so far, occurred_at)`. A session
file ingested later keeps its own `at` times and does not depend on when it was ingested (its
events are not live, and in order they are never behind the projection's time): only a line
stepping back more than `LATE_MS`, or dated after the ingest, is skewed. Ingested after newer
events, an old session is behind the projection's time as a whole and is timed at its ingest.
"""

from __future__ import annotations

from typing import Final, NamedTuple

#: How far after the store's clock an event may say it happened (clock differences between
#: machines).
FUTURE_SKEW_MS: Final[int] = 5_000
#: How far behind the projection's time an event may say it happened and keep its own time.
LATE_MS: Final[int] = 5_000
#: An event recorded this close to its time is live: the store's clock then measures time.
LIVE_MS: Final[int] = 60_000


class EventTime(NamedTuple):
    """An event's time in the projection, whether its own `occurred_at` was set aside, and the
    store's time to measure the next skewed event from (`State.recorded_ms`)."""

    now: int
    skewed: bool
    recorded_ms: int


def plausible(occurred_at: int, recorded_at: int, clock_ms: int) -> bool:
    """Whether an event's `occurred_at` can be its time, given when the store recorded it and
    the projection's time before it."""
    return clock_ms - LATE_MS <= occurred_at <= recorded_at + FUTURE_SKEW_MS


def event_time(clock_ms: int, recorded_ms: int, occurred_at: int, recorded_at: int) -> EventTime:
    """The time of an event recorded at `recorded_at` that says it occurred at `occurred_at`,
    after a projection at time `clock_ms` whose last live event the store recorded at
    `recorded_ms` (0: none)."""
    skewed = not plausible(occurred_at, recorded_at, clock_ms)
    if not skewed:
        now = occurred_at if occurred_at > clock_ms else clock_ms
    elif recorded_ms > 0 and recorded_at > recorded_ms:
        timed = min(clock_ms + (recorded_at - recorded_ms), recorded_at + FUTURE_SKEW_MS)
        now = timed if timed > clock_ms else clock_ms
    else:
        now = clock_ms
    live = -LIVE_MS <= recorded_at - now <= LIVE_MS
    return EventTime(now, skewed, recorded_at if live else recorded_ms)
