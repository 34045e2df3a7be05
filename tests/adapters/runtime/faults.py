"""Render functions that misbehave, for the service's worker processes.

The scheduler sends them to its workers by reference (pickled as
`tests.adapters.runtime.faults.<name>`), so they live at module level in an importable module.
Each misbehaves only on the chunk
`FAULTY` names (chunk 0 at the default preset) and renders every other chunk normally, so a
test can check that the work after the fault still gets done. A function that hangs or crashes
first leaves its process id under `<cache root>/../pids/`, for the test to look the process up.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from adapters.audio import cancel
from adapters.runtime import jobs
from adapters.runtime.specs import AnalyseSpec, RenderSpec
from domain.loudness import ChunkMeasure

SLOW_S: Final[float] = 1.0
STALL_S: Final[float] = 120.0


def ref(function: Callable[..., object]) -> str:
    """How the service names a worker function: ``"module:function"``."""
    return f"{function.__module__}:{function.__name__}"


def pids_dir(cache_root: Path | str) -> Path:
    return Path(cache_root).parent / "pids"


def _faulty(spec: RenderSpec) -> bool:
    return spec.key.index == 0 and spec.key.preset == "adaptive"


def _note_pid(spec: RenderSpec, what: str) -> None:
    folder = pids_dir(spec.cache_root)
    folder.mkdir(exist_ok=True)
    (folder / f"{what}-{os.getpid()}").touch()


def slow_render(spec: RenderSpec) -> jobs.RenderOutcome:
    """Every chunk takes `SLOW_S` longer, so jobs are still in flight when the plan changes."""
    time.sleep(SLOW_S)
    return jobs.render(spec)


def stall_render(spec: RenderSpec) -> jobs.RenderOutcome:
    """Chunks 0 and 1 at the default preset take minutes unless cancelled (they look at the
    cancellation every 10 ms, as a real render does between blocks); the rest render at once, so
    the chunks a moved-on plan asks for land quickly."""
    if spec.key.index < 2 and spec.key.preset == "adaptive":
        _note_pid(spec, "stall")
        deadline = time.monotonic() + STALL_S
        while time.monotonic() < deadline:
            cancel.checkpoint()
            time.sleep(0.01)
    return jobs.render(spec)


def hang_render(spec: RenderSpec) -> jobs.RenderOutcome:
    """Spins forever on the faulty chunk, burning a CPU, until its process is killed."""
    if _faulty(spec):
        _note_pid(spec, "hang")
        while True:
            pass
    return jobs.render(spec)


def exit_render(spec: RenderSpec) -> jobs.RenderOutcome:
    if _faulty(spec):
        _note_pid(spec, "exit")
        os._exit(1)
    return jobs.render(spec)


def kill_render(spec: RenderSpec) -> jobs.RenderOutcome:
    if _faulty(spec):
        _note_pid(spec, "kill")
        os.kill(os.getpid(), signal.SIGKILL)
    return jobs.render(spec)


def segfault_render(spec: RenderSpec) -> jobs.RenderOutcome:
    if _faulty(spec):
        _note_pid(spec, "segfault")
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file left behind
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    return jobs.render(spec)


def raise_render(spec: RenderSpec) -> jobs.RenderOutcome:
    """A bug in the worker code: an exception nobody translated into an outcome."""
    if _faulty(spec):
        raise RuntimeError("a bug in the renderer")
    return jobs.render(spec)


def raise_analyse(spec: AnalyseSpec) -> ChunkMeasure:
    raise RuntimeError("a bug in the analysis")


def stuck_render(spec: RenderSpec) -> jobs.RenderOutcome:
    """Never finishes on its own: the service is killed while it runs."""
    _note_pid(spec, "stuck")
    time.sleep(600)
    return jobs.render(spec)


SLOW = ref(slow_render)
STALL = ref(stall_render)
HANG = ref(hang_render)
EXIT = ref(exit_render)
KILL = ref(kill_render)
SEGFAULT = ref(segfault_render)
RAISE = ref(raise_render)
RAISE_ANALYSE = ref(raise_analyse)
STUCK = ref(stuck_render)
