"""A render worker process: `python -m adapters.runtime.worker PARENT_PID`.

It imports only what rendering and analysis need (numpy, soundfile and the audio code —
never the CLI, the HTTP stack or the database), announces itself ready, then runs the jobs its
parent sends, one at a time, for as long as the parent lives.

Protocol, over stdin/stdout, each message a 4-byte big-endian length and a pickle:

- parent -> worker: ``("init", sys_path, preload)`` once, then ``("job", id, "module:function",
  args)`` or ``("cancel", id)``;
- worker -> parent: ``("ready", pid)``, then per job ``("done", id, result)``,
  ``("cancelled", id)`` or ``("error", id, "Type: message")``.

A job is cancelled cooperatively: while it runs, `adapters.audio.cancel.checkpoint()` looks at
stdin without blocking, and a ``cancel`` for the running job raises `Cancelled` there. The worker
dies with its parent: the kernel sends it SIGKILL when the parent exits (PR_SET_PDEATHSIG, also
when the parent is killed), and an end of stdin ends it too.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import pickle
import select
import signal
import struct
import sys
from collections.abc import Callable
from typing import Any, Final

from adapters.audio import cancel

_HEADER: Final = struct.Struct(">I")
_PR_SET_PDEATHSIG: Final = 1


def _read_exactly(fd: int, size: int) -> bytes | None:
    """`size` bytes from `fd` (unbuffered, so `select` sees whatever is not read yet)."""
    parts, left = [], size
    while left:
        part = os.read(fd, left)
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_message(fd: int) -> Any:
    """One message, or None at the end of the stream."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exactly(fd, _HEADER.unpack(header)[0])
    return None if body is None else pickle.loads(body)


def frame(message: object) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def _die_with(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the end of stdin still ends the worker
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(0)


class _Jobs:
    def __init__(self, stdin: int, stdout: int) -> None:
        self.stdin, self.stdout = stdin, stdout
        self.current: int | None = None
        self._functions: dict[str, Callable[..., object]] = {}

    def cancelled(self) -> bool:
        """Whether a cancel of the running job is waiting on stdin (never blocks)."""
        while select.select([self.stdin], [], [], 0)[0]:
            message = read_message(self.stdin)
            if message is None:
                os._exit(0)  # the parent is gone
            if message[0] == "cancel" and message[1] == self.current:
                return True
        return False

    def function(self, ref: str) -> Callable[..., object]:
        found = self._functions.get(ref)
        if found is None:
            module, _, name = ref.partition(":")
            found = getattr(importlib.import_module(module), name)
            self._functions[ref] = found
        return found

    def send(self, message: object) -> None:
        data = memoryview(frame(message))
        while data:
            data = data[os.write(self.stdout, data) :]

    def run(self, job_id: int, ref: str, args: tuple[Any, ...]) -> None:
        self.current = job_id
        try:
            result = self.function(ref)(*args)
        except cancel.Cancelled:
            self.send(("cancelled", job_id))
        except Exception as e:  # the worker boundary: report, stay alive for the next job
            self.send(("error", job_id, f"{type(e).__name__}: {e}"))
        else:
            self.send(("done", job_id, result))
        finally:
            self.current = None


def main(argv: list[str]) -> int:
    _die_with(int(argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    stdin, stdout = os.dup(0), os.dup(1)
    os.dup2(2, 1)  # a stray print (or a C library writing to fd 1) must not corrupt the protocol
    sys.stdout = sys.stderr
    init = read_message(stdin)
    if init is None or init[0] != "init":
        return 2
    sys.path[:] = init[1]
    jobs = _Jobs(stdin, stdout)
    for ref in init[2]:
        jobs.function(ref)  # import now, not on the first job's clock
    cancel.install(jobs.cancelled)
    jobs.send(("ready", os.getpid()))
    while (message := read_message(stdin)) is not None:
        if message[0] == "job":
            jobs.run(message[1], message[2], message[3])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
