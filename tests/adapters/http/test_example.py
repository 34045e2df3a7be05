"""`examples/player.py` (standard library only) plays its scripted session against the API."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import anyio
import pytest

from adapters.runtime.service import Service

EXAMPLE = Path(__file__).parents[3] / "examples" / "player.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_player", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.anyio
async def test_the_example_player_plays_a_session(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    player = _load()
    api = player.Api(f"http://127.0.0.1:{service.http_port}", None)
    with anyio.fail_after(90):
        await anyio.to_thread.run_sync(player.play, api)
    out = capsys.readouterr().out
    assert out.count("checksum ok") == 4 and "BAD" not in out
    assert "status: 4 requests" in out
