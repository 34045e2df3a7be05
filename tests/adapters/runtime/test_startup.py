"""Start-up that serves at once: the API answers first; the worker processes and the library's
first scan start after it, so on a small machine they do not compete with it for the CPU; and a
restart loads neither Alembic (the log is at the head revision) nor the audio stack (the scan
and the analysis load it when they first need it) before it answers."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from adapters import bootstrap
from adapters.http.config import HttpConfig
from adapters.runtime import specs
from adapters.runtime.service import running_service
from tests.adapters.runtime.conftest import DEADLINE_S, ConfigMaker
from tests.support.audio import write_audio

pytestmark = pytest.mark.anyio


async def test_a_running_service_starts_no_worker_and_no_scan_until_its_work_is_started(
    make_config: ConfigMaker,
) -> None:
    config = make_config(workers=2, watch_library=True)
    wired = bootstrap.sources()
    async with (
        bootstrap.open_log(config.db, create=True, migrate=True) as log,
        running_service(
            config,
            log=log,
            clock=wired.clock,
            new_id=wired.new_id,
            render=specs.RENDER,
            analyse=specs.ANALYSE,
        ) as service,
    ):
        assert service.watcher is not None
        assert service.pool.started == 0 and service.pool.pids == []
        assert service.watcher.status.mode == "starting"
        await service.start_work()
        assert service.pool.starting == 2
        with anyio.fail_after(DEADLINE_S):
            state = await service.scanned()
        assert len(state.tracks) == 2


async def test_the_api_answers_before_the_workers_and_the_first_scan_start(
    make_config: ConfigMaker, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(workers=2, watch_library=True)
    for n in range(300):  # a first scan that takes a while
        write_audio(config.library / "more" / f"{n:03d}.wav", seconds=0.5, seed=n)
    caplog.set_level(logging.INFO)
    http = HttpConfig(host="127.0.0.1", port=0)
    async with bootstrap.service(config, http=http) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=DEADLINE_S) as client:
            answer = await client.get("/v1/status")
        assert answer.status_code == 200
        assert answer.json()["library"]["tracks"] < 302  # answered while scanning
        with anyio.fail_after(DEADLINE_S):
            assert len((await service.scanned()).tracks) == 302
    said = [r.getMessage() for r in caplog.records]
    serving = next(i for i, m in enumerate(said) if m.startswith("HTTP API on 127.0.0.1:"))
    scanning = next(i for i, m in enumerate(said) if m.endswith(": scanning (listing the library)"))
    worker = said.index("starting 2 render worker processes")
    assert serving < scanning and serving < worker


#: Starts the service with HTTP on an empty library and a log at the head revision, and prints
#: the top-level packages loaded when it answers, as JSON.
PROBE = """
import json, sys
from pathlib import Path
import anyio
from adapters import bootstrap
from adapters.http.config import HttpConfig
from adapters.runtime.service import ServiceConfig

async def main(folder: Path) -> None:
    config = ServiceConfig(folder / "log.db", folder / "library", folder / "chunks")
    http = HttpConfig(host="127.0.0.1", port=0)
    async with bootstrap.service(config, http=http):
        print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))

anyio.run(main, Path(sys.argv[1]))
"""


def test_a_restart_loads_neither_alembic_nor_the_audio_stack_before_the_api_answers(
    tmp_path: Path,
) -> None:
    (tmp_path / "library").mkdir()

    def started() -> set[str]:
        result = subprocess.run(
            [sys.executable, "-c", PROBE, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return set(json.loads(result.stdout))

    first = started()  # creates the log: Alembic migrates it
    assert "alembic" in first
    again = started()
    assert not again & {"alembic", "numpy", "soundfile"}, sorted(again)
