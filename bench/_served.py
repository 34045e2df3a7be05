"""`tierbuffer serve --http` as a subprocess for the benchmarks, and what they ask it over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

import anyio
import httpx
import psutil

ROOT: Final = Path(__file__).resolve().parent.parent
POLL_S: Final = 0.01
STOP_TIMEOUT_S: Final = 30.0


class BenchFailedError(Exception):
    """The run did not do what it should have: no figure is printed."""


class Service:
    """`tierbuffer serve --http` in a subprocess (its own process group), on the database and
    chunk folder under `folder` (fresh, or kept from an earlier run: a restart), logging JSON
    lines to `folder/service-<n>.log`; the code is `tree`'s (its packages first on the path)."""

    def __init__(self, library: Path, folder: Path, workers: int, tree: Path = ROOT) -> None:
        runs = len(list(folder.glob("service-*.log")))
        self.log = folder / f"service-{runs + 1}.log"
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "adapters.cli", "--db", str(folder / "log.db"),
            "--log-format", "json", "serve", "--library", str(library),
            "--cache-dir", str(folder / "chunks"), "--workers", str(workers),
            "--http", f"127.0.0.1:{self.port}",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIERBUFFER_")}
        env["XDG_CONFIG_HOME"] = str(folder / "config")  # no config file of the user's
        with open(self.log, "wb") as log:
            self.started = time.perf_counter()
            self.process = subprocess.Popen(
                command,
                cwd=tree,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )

    def since(self) -> float:
        return time.perf_counter() - self.started

    def cpu_s(self) -> tuple[float, float]:
        """CPU seconds (user + system) of the service's process and of its children."""
        root = psutil.Process(self.process.pid)
        children = 0.0
        for child in root.children(recursive=True):
            try:
                children += sum(child.cpu_times()[:2])
            except psutil.NoSuchProcess:
                continue
        return sum(root.cpu_times()[:2]), children

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a decoder's own words on fd 2
        return found

    def exited(self) -> str | None:
        code = self.process.poll()
        if code is None:
            return None
        tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
        return f"the service exited ({code}): {' | '.join(tail)}"

    def stop(self) -> None:
        """SIGTERM to the process group (the service stops cleanly, writing a snapshot), then
        SIGKILL to whatever of it is left."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def status(client: httpx.AsyncClient, service: Service) -> dict[str, Any]:
    """GET /v1/status, polled every `POLL_S` until the service answers."""
    while True:
        failure = service.exited()
        if failure is not None:
            raise BenchFailedError(failure)
        try:
            answer = await client.get("/v1/status")
        except httpx.TransportError:  # not listening yet
            await anyio.sleep(POLL_S)
            continue
        if answer.status_code != 200:
            raise BenchFailedError(f"GET /v1/status: {answer.status_code} {answer.text[:200]}")
        found: dict[str, Any] = answer.json()
        return found


async def chunk_served(client: httpx.AsyncClient, track: dict[str, Any], preset: str) -> None:
    """Ask chunk 0 of `track` (as GET /v1/tracks lists it) until it is served with 200."""
    url = f"/v1/chunks/{track['track']}/{track['revision']}/{preset}/5/0"
    while True:
        answer = await client.get(url, params={"wait_ms": 30_000})
        if answer.status_code == 200:
            return
        if answer.status_code != 202:
            raise BenchFailedError(f"GET {url}: {answer.status_code} {answer.text[:200]}")


async def events(client: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    """Every event of type `kind` in the log, paged through GET /v1/events."""
    entries: list[dict[str, Any]] = []
    after = 0
    while True:
        params: dict[str, str | int] = {"after": after, "limit": 1000, "type": kind}
        page = (await client.get("/v1/events", params=params)).json()
        entries.extend(page["events"])
        if page["next_after"] is None:
            return entries
        after = page["next_after"]
