"""Interaction policy (DESIGN §1), decided from event times only.

- a position report closer than `POSITION_THROTTLE_MS` to the last applied position is throttled:
  it stays in the log, is counted, and is not acted on;
- a preset change always takes effect at once; it is *learned* by the predictor only if it comes
  `LEARN_DEBOUNCE_MS` or more after the last learned change, while a track plays, and not during
  exploration;
- exploration is `EXPLORATION_ACTIONS` user actions (preset changes, seeks, track changes — never
  the player's periodic position reports) within `EXPLORATION_WINDOW_MS`; it learns nothing;
- a track change is never throttled.
"""

from __future__ import annotations

from typing import Final

import msgspec
from msgspec.structs import replace

from domain.events import PositionReported, PresetChanged, Recorded, Seeked, TrackChanged
from domain.state import Policy, State
from domain.timing import event_time

POSITION_THROTTLE_MS: Final[int] = 100
LEARN_DEBOUNCE_MS: Final[int] = 500
EXPLORATION_ACTIONS: Final[int] = 10
EXPLORATION_WINDOW_MS: Final[int] = 1_000
#: The audit mark of an event timed by the store's clock instead of its own (`domain.timing`).
CLOCK_SKEW: Final[str] = "clock-skew"


class PresetDecision(msgspec.Struct, frozen=True):
    policy: Policy
    learn: bool
    exploring: bool


def is_throttled(policy: Policy, now: int) -> bool:
    """A position report this close to the last applied position update is not acted on."""
    last = policy.last_position_at
    return last is not None and now - last < POSITION_THROTTLE_MS


def position_applied(policy: Policy, now: int) -> Policy:
    return replace(policy, last_position_at=now)


def position_throttled(policy: Policy) -> Policy:
    return replace(policy, throttled=policy.throttled + 1)


def _with_action(actions: tuple[int, ...], now: int) -> tuple[int, ...]:
    kept = actions[-(EXPLORATION_ACTIONS - 1) :] if EXPLORATION_ACTIONS > 1 else ()
    return (*kept, now)


def _exploring(actions: tuple[int, ...], now: int) -> bool:
    return len(actions) >= EXPLORATION_ACTIONS and actions[-EXPLORATION_ACTIONS] > (
        now - EXPLORATION_WINDOW_MS
    )


def user_action(policy: Policy, now: int) -> tuple[Policy, bool]:
    """Record a seek or track change; returns the policy and whether the listener is exploring."""
    actions = _with_action(policy.actions, now)
    exploring = _exploring(actions, now)
    count = policy.exploring + 1 if exploring else policy.exploring
    return replace(policy, actions=actions, last_position_at=now, exploring=count), exploring


def preset_changed(policy: Policy, now: int, *, playing: bool, changes: bool) -> PresetDecision:
    """Apply the learning rules to a preset change (`changes`: it differs from the current one)."""
    actions = _with_action(policy.actions, now)
    exploring = _exploring(actions, now)
    last = policy.last_learned_at
    debounced = last is not None and now - last < LEARN_DEBOUNCE_MS
    learn = playing and changes and not exploring and not debounced
    updated = replace(
        policy,
        actions=actions,
        last_learned_at=now if learn else last,
        exploring=policy.exploring + 1 if exploring else policy.exploring,
        unlearned=policy.unlearned if learn or exploring else policy.unlearned + 1,
    )
    return PresetDecision(updated, learn, exploring)


def audit_mark(state_before: State, recorded: Recorded) -> str:
    """How the policy treats `recorded` given the state before it: "" when it applies normally.

    "throttled": a position report inside the throttle window (kept in the log, not acted on);
    "exploring": a user action during exploration (applied, nothing learned);
    "not-learned": a preset change applied at once but not learned (debounced, nothing playing,
    or no change);
    "clock-skew": the event's occurred-at was set aside for the store's clock
    (`domain.timing`), alone or before another mark ("clock-skew+throttled").
    """
    now, skewed, _ = event_time(
        state_before.clock_ms,
        state_before.recorded_ms,
        recorded.occurred_at,
        recorded.recorded_at,
    )
    mark = _policy_mark(state_before, recorded.event, now)
    if skewed:
        return f"{CLOCK_SKEW}+{mark}" if mark else CLOCK_SKEW
    return mark


def _policy_mark(state_before: State, event: object, now: int) -> str:
    policy = state_before.policy
    if isinstance(event, PositionReported):
        return "throttled" if is_throttled(policy, now) else ""
    if isinstance(event, PresetChanged):
        playback = state_before.playback
        decision = preset_changed(
            policy,
            now,
            playing=playback.track is not None,
            changes=event.preset != playback.preset,
        )
        if decision.exploring:
            return "exploring"
        return "" if decision.learn else "not-learned"
    if isinstance(event, Seeked | TrackChanged):
        return "exploring" if user_action(policy, now)[1] else ""
    return ""
