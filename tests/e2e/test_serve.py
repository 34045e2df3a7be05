"""`tierbuffer serve --http` as a process, on SQLite and on PostgreSQL: the API answers, SIGTERM
stops it cleanly, and the log it wrote verifies."""

from __future__ import annotations

import json
import os
import re
import signal
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
