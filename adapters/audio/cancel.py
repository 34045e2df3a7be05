"""Cooperative cancellation of long audio work: `checkpoint()` between blocks.

Decoding, rendering and analysis call `checkpoint()` between blocks of work (a decoded block, a
DSP stage, before the encode). Outside a worker it does nothing. A render worker installs a poll
that says whether the job it runs was cancelled; `checkpoint()` then raises `Cancelled`, the job
unwinds through its own cleanup (temporary files, captured stderr) and the worker process stays
alive for the next job — no process start on the critical path of the chunk the player waits on.
"""

from __future__ import annotations

from collections.abc import Callable


class Cancelled(Exception):
    """The job running in this process was cancelled by whoever asked for it."""


_poll: Callable[[], bool] | None = None


def install(poll: Callable[[], bool] | None) -> None:
    """Use `poll` to ask whether the current job was cancelled (None: never)."""
    global _poll
    _poll = poll


def checkpoint() -> None:
    """Raise `Cancelled` if the current job was cancelled; cheap enough to call per block."""
    if _poll is not None and _poll():
        raise Cancelled()
