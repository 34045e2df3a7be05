"""Loopback needs no token; any other address needs one, and every request must carry it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters import bootstrap
from adapters.cli import main
from adapters.http.config import HttpConfig, HttpConfigError, is_loopback, parse_bind
from adapters.runtime.service import Service, ServiceConfig
from tests.adapters.http.conftest import TOKEN


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("::", False),
        ("example.org", False),
    ],
)
def test_loopback_is_decided_by_the_address(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_binding_off_loopback_without_a_token_is_refused() -> None:
    with pytest.raises(HttpConfigError, match="token"):
        HttpConfig(host="0.0.0.0", port=0)
    with pytest.raises(HttpConfigError, match="token"):
        parse_bind("0.0.0.0:8770")
    assert parse_bind("0.0.0.0:8770", token=TOKEN).token == TOKEN


@pytest.mark.parametrize(
    "token",
    ["t", " " * 20, "short-token", "a token with spaces in it", "tab\tin-the-token-here", "é" * 20],
)
def test_a_weak_or_unsendable_token_is_refused(token: str) -> None:
    with pytest.raises(HttpConfigError, match="at least 16 characters of visible ASCII"):
        parse_bind("0.0.0.0:8770", token=token)
    with pytest.raises(HttpConfigError, match="at least 16"):
        HttpConfig(host="127.0.0.1", port=0, token=token)
    assert parse_bind("8770").host == "127.0.0.1"
    assert parse_bind("[::1]:8770").host == "::1"


def test_serve_refuses_to_start_off_loopback_without_a_token(
    library: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("TIERBUFFER_TOKEN", raising=False)
    db = tmp_path / "serve.db"
    code = main(["--db", str(db), "serve", "--library", str(library), "--http", "0.0.0.0:0"])
    assert code == 2
    assert "token" in capsys.readouterr().err
    assert not db.exists()


@pytest.fixture
async def exposed(service_config: ServiceConfig) -> AsyncIterator[Service]:
    http = HttpConfig(host="0.0.0.0", port=0, token=TOKEN)
    async with bootstrap.service(service_config, http=http) as running:
        await running.scanned()
        yield running


@pytest.mark.anyio
async def test_off_loopback_every_request_must_carry_the_token(exposed: Service) -> None:
    base = f"http://127.0.0.1:{exposed.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for path in ("/v1/status", "/v1/openapi.json", "/v1/events", "/v1/nowhere"):
            refused = await client.get(path)
            assert refused.status_code == 401, path
            assert refused.json()["error"]["code"] == "unauthorized"
        wrong = await client.get("/v1/status", headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status_code == 401
        before = await exposed.app.log.events.last_seq()
        post = await client.post("/v1/interactions", json={"type": "Paused"})
        assert post.status_code == 401
        assert await exposed.app.log.events.last_seq() == before
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.get("/v1/status", headers=auth)).status_code == 200
        for scheme in ("bearer", "BEARER", "BeArEr"):  # the scheme is case-insensitive
            anycase = {"Authorization": f"{scheme} {TOKEN}"}
            assert (await client.get("/v1/status", headers=anycase)).status_code == 200
        for other in (f"Basic {TOKEN}", TOKEN, f"Bearer{TOKEN}", f"Bearer {TOKEN.upper()}"):
            refused = await client.get("/v1/status", headers={"Authorization": other})
            assert refused.status_code == 401, other
        accepted = await client.post("/v1/interactions", json={"type": "Paused"}, headers=auth)
        assert accepted.status_code == 200
