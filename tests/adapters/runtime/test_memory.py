"""Memory pressure: levels with hysteresis, tiers shrunk to the budgets in force, files deleted."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import anyio
import psutil
import pytest

from adapters import bootstrap
from adapters.runtime.memory import LEVELS, MemoryMonitor, next_level
from adapters.runtime.service import Service
from domain.events import MemoryPressureChanged, Paused, PressureLevel
from domain.plan import budget_of
from domain.state import State
from domain.tiers import TIERS, budgets_in_force, now_playing
from tests.adapters.runtime.conftest import (
    DEADLINE_S,
    ConfigMaker,
    add_library,
    chunk_files,
    ident,
    idle,
    key_of,
    logged,
    play,
    until,
    write_track,
)


@pytest.mark.parametrize(
    ("current", "used", "expected"),
    [
        ("normal", 0.0, "normal"),
        ("normal", 0.7499, "normal"),
        ("normal", 0.75, "warning"),
        ("normal", 0.85, "critical"),
        ("normal", 0.95, "emergency"),
        ("normal", 1.0, "emergency"),
        ("warning", 0.74, "warning"),  # inside the hysteresis band: stays
        ("warning", 0.70, "warning"),
        ("warning", 0.6999, "normal"),
        ("warning", 0.86, "critical"),
        ("critical", 0.80, "critical"),
        ("critical", 0.7999, "warning"),
        ("critical", 0.6, "normal"),
        ("critical", 0.96, "emergency"),
        ("emergency", 0.90, "emergency"),
        ("emergency", 0.8999, "critical"),
        ("emergency", 0.7, "warning"),
        ("emergency", 0.1, "normal"),
    ],
)
def test_next_level(current: PressureLevel, used: float, expected: PressureLevel) -> None:
    assert next_level(current, used) == expected


def test_a_reading_hovering_at_a_threshold_changes_the_level_once() -> None:
    for rank, level in enumerate(LEVELS[1:], start=1):
        threshold = (0.75, 0.85, 0.95)[rank - 1]
        current: PressureLevel = LEVELS[rank - 1]
        changes = 0
        for i in range(50):
            after = next_level(current, threshold + (0.01 if i % 2 else -0.01))
            changes += after != current
            current = after
        assert changes == 1 and current == level


class Readings:
    """A fake `read` for the monitor: the share of memory used, as the test sets it."""

    def __init__(self) -> None:
        self.used = 0.5

    def __call__(self) -> float:
        return self.used


def within_budgets(state: State) -> bool:
    budgets = budgets_in_force(state, now_playing(state, state.clock_ms))
    held = state.cache.held.values()
    return all(
        sum(h.bytes for h in held if h.tier == tier) <= budget_of(budgets, tier) for tier in TIERS
    )


def settled(service: Service) -> Callable[[State], bool]:
    return lambda s: idle(s) and within_budgets(s)


def tiers(state: State) -> dict[str, int]:
    return {tier: sum(h.tier == tier for h in state.cache.held.values()) for tier in TIERS}


def on_disk_is_held(service: Service) -> bool:
    return chunk_files(service) == {h.path for h in service.app.state.cache.held.values()}


@pytest.mark.anyio
async def test_pressure_shrinks_the_tiers_and_deletes_the_evicted_files(
    make_config: ConfigMaker,
) -> None:
    write_track(make_config().library / "long.flac", 300.0, seed=2)  # ten chunks: L3 has work
    async with bootstrap.service(make_config(workers=2)) as service:
        track = (await add_library(service))["long.flac"]
        state = await play(service, track)
        await service.player.interact(Paused())  # the plan stays at chunk 0 throughout
        for index in (6, 3):  # wanted by L3 (read-ahead) and L2 (continue), not yet likely
            asked = await service.player.chunk_by_key(key_of(state, track, index), wait_s=30)
            assert asked.status == "rendered", asked
        await service.player.chunk(0, wait_s=30)  # what plays is chunk 0 again
        state = await until(service, settled(service))
        full = tiers(state)
        assert full["L1"] and full["L2"] and full["L3"], full
        assert on_disk_is_held(service)

        readings = Readings()
        monitor = MemoryMonitor(service.app.record, current="normal", read=readings)
        steps: Iterable[tuple[float, PressureLevel]] = [
            (0.5, "normal"),
            (0.8, "warning"),
            (0.74, "warning"),  # no flapping around 75 %
            (0.76, "warning"),
            (0.74, "warning"),
            (0.9, "critical"),
            (0.96, "emergency"),
            (0.7, "warning"),  # down three thresholds at once, but not below 70 %
        ]
        shrunk: dict[PressureLevel, dict[str, int]] = {}
        for used, level in steps:
            readings.used = used
            assert await monitor.check() == level
            state = await until(service, lambda s, lv=level: s.cache.pressure == lv)
            state = await until(service, settled(service))
            assert on_disk_is_held(service), level
            shrunk.setdefault(level, tiers(state))
            if level == "emergency":  # only the chunk now playing is kept
                assert set(state.cache.held) == {ident(state, track, 0)}

        assert shrunk["warning"]["L3"] == 0 < full["L3"]
        assert shrunk["critical"]["L2"] == shrunk["critical"]["L3"] == 0
        changes = await logged(service, MemoryPressureChanged)
        assert [c.level for c in changes] == ["warning", "critical", "emergency", "warning"]
        assert [c.used_fraction for c in changes] == [0.8, 0.9, 0.96, 0.7]
        assert service.janitor.deleted >= full["L3"] + full["L2"]

        readings.used = 0.69
        assert await monitor.check() == "normal"
        state = await until(service, lambda s: s.cache.pressure == "normal" and settled(service)(s))
        # What the plan renders by itself grows back (chunks 3 and 6 were asked for once, and
        # are not likely enough to be rendered again unasked).
        assert tiers(state)["L1"] >= 2, "the tiers did not grow back"
        assert on_disk_is_held(service)


class FakeMemory:
    """Stands in for `psutil.virtual_memory()`; `read` is set once it has been asked `n` times."""

    def __init__(self, percent: float) -> None:
        self.percent = percent
        self.asked = 0
        self.waiting: tuple[int, anyio.Event] | None = None

    def __call__(self) -> FakeMemory:
        self.asked += 1
        if self.waiting is not None and self.asked >= self.waiting[0]:
            self.waiting[1].set()
        return self

    async def asked_again(self, times: int) -> None:
        done = anyio.Event()
        self.waiting = (self.asked + times, done)
        with anyio.fail_after(DEADLINE_S):
            await done.wait()


@pytest.mark.anyio
async def test_the_services_own_monitor_records_level_changes(
    make_config: ConfigMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = FakeMemory(percent=96.0)
    monkeypatch.setattr(psutil, "virtual_memory", memory)
    config = make_config(monitor_memory=True, memory_interval_s=0.02)
    async with bootstrap.service(config) as service:
        await until(service, lambda s: s.cache.pressure == "emergency")
    async with bootstrap.service(config) as service:  # the level is the log's after a restart
        await memory.asked_again(3)
        assert len(await logged(service, MemoryPressureChanged)) == 1
        memory.percent = 50.0
        await until(service, lambda s: s.cache.pressure == "normal")
        changes = [(c.level, c.used_fraction) for c in await logged(service, MemoryPressureChanged)]
        assert changes == [("emergency", 0.96), ("normal", 0.5)]
