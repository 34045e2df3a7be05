"""The running service with its HTTP API on 127.0.0.1 (an ephemeral port), on a tiny library.

Tracks are short (16 kHz mono, 40 and 65 s: two or three 30 s chunks), so renders take
milliseconds and the time goes to the service itself. Waits have deadlines, never sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import httpx
import pytest

from adapters import bootstrap
from adapters.http.config import HttpConfig
from adapters.runtime.scheduler import SchedulerConfig
from adapters.runtime.service import Service, ServiceConfig
from tests.support.audio import write_track

RATE: Final = 16_000
DEADLINE_S: Final = 45.0
TOKEN: Final = "s3cret-token-of-the-tests"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    root.mkdir()
    write_track(root / "one.flac", 65.0, seed=0)
    write_track(root / "two.wav", 40.0, seed=1)
    return root


@pytest.fixture
def service_config(tmp_path: Path, library: Path) -> ServiceConfig:
    return ServiceConfig(
        db=tmp_path / "tierbuffer.db",
        library=library,
        cache_dir=tmp_path / "chunks",
        scheduler=SchedulerConfig(workers=2),
        watch_library=True,
        monitor_memory=False,
    )


@pytest.fixture
def http_config() -> HttpConfig:
    return HttpConfig(host="127.0.0.1", port=0, heartbeat_s=0.5)


@pytest.fixture
async def service(service_config: ServiceConfig, http_config: HttpConfig) -> AsyncIterator[Service]:
    async with bootstrap.service(service_config, http=http_config) as running:
        await running.scanned()
        yield running


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{service.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=DEADLINE_S) as http:
        yield http


def track_names(service: Service) -> list[str]:
    return sorted(service.app.state.tracks)
