"""How this listener listens now: the chance that a chunk sees a preset switch, a burst of them
(trying presets out), ends in a seek, ends in a skip — moving averages over the chunks played,
learned from the log and kept in `Predictor`.

Each rate is updated when a chunk ends (a track change, a seek, or playing on into the next) with
what happened in it, `rate = DECAY · rate + (1 − DECAY) · happened`, so about the last
1 / (1 − DECAY) chunks count: a listener who changes habits (explores for a while, then listens
through) is followed within minutes, and a steady one soon stops paying for switches that never
come. The rates turn the planner's scenarios into honest probabilities: a chunk is rendered
ahead only if it is likely to be played, and the further ahead it is needed, the likelier it
must be (there is time to render it once it comes near).
"""

from __future__ import annotations

from typing import Final

import msgspec
from msgspec.structs import replace

from domain.state import Policy, Predictor

DECAY: Final[float] = 0.75
#: User actions (switches, seeks, track changes) this close together are a burst: the listener
#: is trying things out, and every preset's current chunk is worth having.
BURST_ACTIONS: Final[int] = 3
BURST_WINDOW_MS: Final[int] = 2_000
#: The gaps between switches kept, and how many make a habit worth trusting.
MAX_GAPS: Final[int] = 12
MIN_GAPS: Final[int] = 3
CHUNK_MS: Final[int] = 30_000


class Habits(msgspec.Struct, frozen=True):
    switch: float  # chance of a preset switch while a chunk plays
    explore: float  # chance of a burst of switches while a chunk plays
    seek: float
    skip: float
    gaps: tuple[int, ...] = ()
    since_switch: int | None = None  # ms since the last switch
    bursting: bool = False  # a burst of actions is going on now

    @property
    def stay(self) -> float:
        """Chance the listener plays on into the next chunk, at this preset, without a jump."""
        return (1.0 - self.switch) * (1.0 - self.seek) * (1.0 - self.skip)

    def switch_within(self, window_ms: int) -> float:
        """Chance of a preset switch in the next `window_ms`: from the gaps between this
        listener's last switches, as the share of the gaps longer than the time since the last
        switch that end within the window (a habit of switching every minute or two makes the
        first half minute after a switch safe, the end of the usual gap likely); from the
        per-chunk rate while too few gaps are known."""
        if self.bursting:
            return 1.0
        elapsed = self.since_switch
        if elapsed is None or len(self.gaps) < MIN_GAPS:
            return min(1.0, self.switch * window_ms / CHUNK_MS)
        longer = [g for g in self.gaps if g > elapsed]
        if not longer:  # later than ever before: as likely as the rate says
            return min(1.0, self.switch * window_ms / CHUNK_MS)
        return sum(1 for g in longer if g <= elapsed + window_ms) / len(longer)

    @property
    def explore_share(self) -> float:
        """Of the chunks with a switch, the share with a burst of them: how likely a switch is
        one of many, to any preset."""
        return min(1.0, self.explore / self.switch) if self.switch > 0.0 else 0.0


def habits(predictor: Predictor, policy: Policy, now: int, listened: int) -> Habits:
    """The rates, and a burst going on now counts as exploring for sure; `listened` is the
    listening clock at `now` (the gaps between switches are listening time, not event time: a
    pause does not count, and a player faster than the clock is measured at its own pace)."""
    burst = in_burst(policy, now)
    explore = 1.0 if burst else predictor.explore_rate
    switch = max(predictor.switch_rate, explore)
    last = predictor.switched_listened
    since = None if last is None else max(0, listened - last)
    return Habits(
        switch, explore, predictor.seek_rate, predictor.skip_rate, predictor.gaps, since, burst
    )


def in_burst(policy: Policy, now: int) -> bool:
    return sum(1 for at in policy.actions if at > now - BURST_WINDOW_MS) >= BURST_ACTIONS


def _moved(rate: float, happened: bool) -> float:
    return DECAY * rate + (1.0 - DECAY) * (1.0 if happened else 0.0)


def chunk_ended(predictor: Predictor, *, seek: bool = False, skip: bool = False) -> Predictor:
    """A chunk ended (played through, left by a seek or by a skip) and another starts."""
    return replace(
        predictor,
        chunks=predictor.chunks + 1,
        switch_rate=_moved(predictor.switch_rate, predictor.switched),
        explore_rate=_moved(predictor.explore_rate, predictor.burst),
        seek_rate=_moved(predictor.seek_rate, seek),
        skip_rate=_moved(predictor.skip_rate, skip),
        switched=False,
        burst=False,
    )


def switched(predictor: Predictor, policy: Policy, now: int, listened: int) -> Predictor:
    """The listener switched preset in the chunk playing (`policy` already has the action) at
    event time `now`, `listened` on the listening clock."""
    burst = predictor.burst or in_burst(policy, now)
    gaps = predictor.gaps
    last, at = predictor.switched_listened, predictor.switched_at
    if last is not None and at is not None and now - at > BURST_WINDOW_MS:
        gaps = (*gaps, max(0, listened - last))[-MAX_GAPS:]  # a burst is one switch
    return replace(
        predictor,
        switched=True,
        burst=burst,
        switched_at=now,
        switched_listened=listened,
        gaps=gaps,
    )
