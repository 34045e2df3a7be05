"""A real PostgreSQL server for the tests and the benchmarks: started from the machine's packaged
binaries (Debian's `postgresql`, which `.ci/run` installs when missing), in a temporary folder,
on a free loopback port, and stopped afterwards.

The server runs as an ordinary user: PostgreSQL refuses to run as root, so when this process is
root the folder is handed to the `postgres` user (created by the package; `nobody` otherwise)
and the binaries are run through `runuser`. Host connections need a password (scram-sha-256), so
the tests can show that wrong credentials are refused. `fsync` is off unless asked for: the
contract suite tests tierbuffer's guarantees, not the disk's; the benchmarks turn it back on.

By hand: `python -m tests.support.pgserver DIR` starts one in DIR, prints its URL and keeps it
running until Ctrl-C.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

USER: Final = "tierbuffer"
PASSWORD: Final = "tb-test-secret"
#: Set by .ci/run: a machine without the server binaries fails the suite instead of skipping.
REQUIRED_ENV: Final = "TIERBUFFER_REQUIRE_POSTGRES"


class ServerUnavailable(Exception):
    """No PostgreSQL binaries on this machine."""


def binaries() -> Path | None:
    """The folder holding `initdb`, `pg_ctl` and `postgres` (None: not installed)."""
    found = shutil.which("initdb")
    if found is not None and shutil.which("pg_ctl") is not None:
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists():
            return Path(folder)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> str | None:
    """The user to run the server as (None: this one)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ServerUnavailable("running as root and no unprivileged user to run PostgreSQL as")


class PgServer:
    """One server: `start()`, `url(database)`, `create_database(name)`, `stop()`."""

    def __init__(self, *, folder: Path | None = None, fsync: bool = False) -> None:
        found = binaries()
        if found is None:
            raise ServerUnavailable("no PostgreSQL binaries (initdb, pg_ctl) on this machine")
        self.bin = found
        self.user = _run_as()
        self._own_folder = folder is None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="tierbuffer-pg-"))
        self.port = free_port()
        self.fsync = fsync
        self.data = self.folder / "data"

    def _cmd(self, *args: str) -> list[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        return command if self.user is None else ["runuser", "-u", self.user, "--", *command]

    def _run(self, *args: str) -> None:
        result = subprocess.run(self._cmd(*args), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    def start(self) -> PgServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        password = self.folder / "password"
        password.write_text(PASSWORD + "\n", encoding="ascii")
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in (self.folder, password):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", USER, f"--pwfile={password}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            f"-c fsync={'on' if self.fsync else 'off'} -c max_connections=200 "
            "-c shared_buffers=128MB"
        )
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        """Over the server's Unix socket (trusted: no password round trips per connection)."""
        return f"postgresql://{USER}@/{database}?host={self.folder}&port={self.port}"

    def tcp_url(self, database: str = "postgres", *, password: str = PASSWORD) -> str:
        """Over TCP on loopback, with a password (scram-sha-256)."""
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                capture_output=True,
                check=False,
            )
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    server = PgServer(folder=folder, fsync="--fsync" in sys.argv).start()
    print(server.url(), flush=True)  # noqa: T201
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
