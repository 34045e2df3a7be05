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
from pathlib import Path
from typing import Final

from adapters.runtime import jobs
from domain.events import ChunkAnalysed, ChunkFailed, ChunkRendered, TrackAnalysed

SLOW_S: Final[float] = 1.0
STALL_S: Final[float] = 120.0


def pids_dir(cache_root: Path | str) -> Path:
    return Path(cache_root).parent / "pids"


def _faulty(spec: jobs.RenderSpec) -> bool:
    return spec.key.index == 0 and spec.key.preset == "adaptive"


def _note_pid(spec: jobs.RenderSpec, what: str) -> None:
    folder = pids_dir(spec.cache_root)
    folder.mkdir(exist_ok=True)
    (folder / f"{what}-{os.getpid()}").touch()


def slow_render(spec: jobs.RenderSpec) -> ChunkRendered | ChunkFailed:
    """Every chunk takes `SLOW_S` longer, so jobs are still in flight when the plan changes."""
    time.sleep(SLOW_S)
    return jobs.render(spec)


def stall_render(spec: jobs.RenderSpec) -> ChunkRendered | ChunkFailed:
    """Chunks 0 and 1 at the default preset take minutes (until cancelled); the rest render at
    once, so the chunks a moved-on plan asks for land quickly."""
    if spec.key.index < 2 and spec.key.preset == "adaptive":
        time.sleep(STALL_S)
    return jobs.render(spec)


def hang_render(spec: jobs.RenderSpec) -> ChunkRendered | ChunkFailed:
    """Spins forever on the faulty chunk, burning a CPU, until its process is killed."""
    if _faulty(spec):
        _note_pid(spec, "hang")
        while True:
            pass
    return jobs.render(spec)


def exit_render(spec: jobs.RenderSpec) -> ChunkRendered | ChunkFailed:
    if _faulty(spec):
        _note_pid(spec, "exit")
        os._exit(1)
    return jobs.render(spec)


def kill_render(spec: jobs.RenderSpec) -> ChunkRendered | ChunkFailed:
    if _faulty(spec):
        _note_pid(spec, "kill")
        os.kill(os.getpid(), signal.SIGKILL)
    return jobs.render(spec)


def segfault_render(spec: jobs.RenderSpec) -> ChunkRendered | ChunkFailed:
    if _faulty(spec):
        _note_pid(spec, "segfault")
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file left behind
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    return jobs.render(spec)


def raise_render(spec: jobs.RenderSpec) -> ChunkRendered | ChunkFailed:
    """A bug in the worker code: an exception nobody translated into an outcome."""
    if _faulty(spec):
        raise RuntimeError("a bug in the renderer")
    return jobs.render(spec)


def raise_analyse(spec: jobs.AnalyseSpec) -> list[ChunkAnalysed | TrackAnalysed]:
    raise RuntimeError("a bug in the analysis")


def stuck_render(spec: jobs.RenderSpec) -> ChunkRendered | ChunkFailed:
    """Never finishes on its own: the service is killed while it runs."""
    _note_pid(spec, "stuck")
    time.sleep(600)
    return jobs.render(spec)
