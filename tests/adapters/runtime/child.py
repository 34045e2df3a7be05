"""A service in a process of its own, for the tests that kill it.

    python -m tests.adapters.runtime.child DB LIBRARY CACHE_DIR TRACK_PATH

Scans the library, plays the track and prints `rendering` once a render (which never ends, see
`faults.stuck_render`) is in flight; then waits to be killed. Import-safe: the service's worker
processes load this module as their `__mp_main__`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from adapters import bootstrap
from adapters.runtime.scheduler import SchedulerConfig
from adapters.runtime.service import ServiceConfig
from tests.adapters.runtime import faults
from tests.adapters.runtime.conftest import add_library, play

READY = "rendering"


async def serve(db: Path, library: Path, cache_dir: Path, track_path: str) -> None:
    config = ServiceConfig(
        db=db,
        library=library,
        cache_dir=cache_dir,
        scheduler=SchedulerConfig(workers=2),
        watch_library=False,
        monitor_memory=False,
    )
    async with bootstrap.service(config, render=faults.STUCK) as service:
        track = (await add_library(service))[track_path]
        await play(service, track)
        await service.app.until(
            lambda s: len(s.cache.inflight) == 2 and s.tracks[track].level is not None
        )
        print(READY, flush=True)  # noqa: T201 - the parent reads it
        await anyio.sleep_forever()


def main(argv: list[str]) -> None:
    db, library, cache_dir, track_path = argv
    anyio.run(serve, Path(db), Path(library), Path(cache_dir), track_path)


if __name__ == "__main__":
    main(sys.argv[1:])
