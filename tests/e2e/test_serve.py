"""`tierbuffer serve --http` as a process, on SQLite and on PostgreSQL: the API answers, SIGTERM
stops it cleanly, and the log it wrote verifies."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from storage.location import PgUrl


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The log: an SQLite file, or a new database on the tests' PostgreSQL server."""
    if request.param == "postgresql":
        url: PgUrl = request.getfixturevalue("pg_url")
        return url.url
    return str(tmp_path / "serve.db")


def test_serve_with_http_answers_and_stops_on_sigterm(
    library: Path, tmp_path: Path, db: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TIERBUFFER_TOKEN"}
    command = [
        sys.executable,
        "-m",
        "adapters.cli",
        "--db",
        db,
        "serve",
        "--library",
        str(library),
        "--cache-dir",
        str(tmp_path / "chunks"),
        "--workers",
        "1",
        "--http",
        "127.0.0.1:0",
    ]
    service = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert service.stderr is not None
        port = None
        for line in service.stderr:  # blocks until the service logs where it listens
            found = re.search(r"HTTP API on 127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        assert port is not None, "the service never said where it listens"
        deadline = time.monotonic() + 30
        while True:  # it answers at once; the library scan runs in the background
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/status", timeout=30) as got:
                status = json.loads(got.read())
            if status["library"]["tracks"] == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status["library"]["tracks"] == 2
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=60) == 0
        checked = subprocess.run(
            [sys.executable, "-m", "adapters.cli", "--db", db, "verify"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
        if service.stderr is not None:
            service.stderr.close()


def _serve(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "adapters.cli", "--db", str(tmp_path / "serve.db"), "serve"]
    return subprocess.Popen(
        [*command, "--cache-dir", str(tmp_path / "chunks"), "--workers", "1", *argv],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_under_systemd_it_reports_ready_pings_the_watchdog_and_says_stopping(
    library: Path, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(tmp_path / "notify"))
        manager.settimeout(60)
        env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"}
        service = _serve(tmp_path, "--library", str(library), env=env)
        try:
            ready = manager.recv(4096).decode()
            assert ready.startswith("READY=1\nSTATUS=serving"), ready  # before the scan
            while (message := manager.recv(4096)) == b"WATCHDOG=1":
                pass
            assert message.startswith(b"STATUS=serving") and b"(2 tracks)" in message, message
            pings = [manager.recv(4096) for _ in range(2)]  # every half second
            assert pings == [b"WATCHDOG=1", b"WATCHDOG=1"]
            service.send_signal(signal.SIGTERM)
            while (message := manager.recv(4096)) == b"WATCHDOG=1":
                pass
            assert message.startswith(b"STOPPING=1")
            assert service.wait(timeout=60) == 0
        finally:
            if service.poll() is None:
                service.kill()
                service.wait()
            assert service.stderr is not None
            log = service.stderr.read()
            service.stderr.close()
    levels = [line.split()[1] for line in log.splitlines() if line[:2] == "20"]
    assert "INFO" in levels and "ERROR" not in levels, log
    for said in ("service starting", "service ready", "received SIGTERM", "service stopped"):
        assert said in log, log


def _refused(tmp_path: Path, *argv: str) -> str:
    service = _serve(tmp_path, *argv)
    _, err = service.communicate(timeout=120)
    assert service.returncode == 2, err
    assert err.count("\n") == 1 and err.startswith("tierbuffer: error: "), err
    assert not (tmp_path / "serve.db").exists() and not (tmp_path / "serve.db.lock").exists()
    assert not (tmp_path / "chunks").exists()
    return err


def test_a_library_folder_that_never_existed_is_refused_naming_it(tmp_path: Path) -> None:
    err = _refused(tmp_path, "--library", str(tmp_path / "Musci"))
    assert f"library folder {tmp_path / 'Musci'} is missing" in err


def test_a_taken_port_is_refused_before_anything_is_created(library: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = _refused(tmp_path, "--library", str(library), "--http", f"127.0.0.1:{port}")
    assert "cannot listen" in err


def test_a_database_that_is_not_one_is_refused_before_the_lock(
    library: Path, tmp_path: Path
) -> None:
    (tmp_path / "serve.db").write_text("not a database\n" * 100)
    service = _serve(tmp_path, "--library", str(library))
    _, err = service.communicate(timeout=120)
    assert service.returncode == 2 and "not an SQLite database" in err
    assert not (tmp_path / "serve.db.lock").exists() and not (tmp_path / "chunks").exists()
