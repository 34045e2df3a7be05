"""One service per database, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from anyio.abc import ByteReceiveStream

from adapters import bootstrap
from adapters.bootstrap import open_log
from adapters.runtime.lock import ServiceLock, ServiceLockedError
from domain.events import ServiceStarted, ServiceStopped, TrackAdded
from storage.errors import DatabaseError
from tests.adapters.runtime.conftest import DEADLINE_S, TRACKS, ConfigMaker, logged

TIERBUFFER = str(Path(sys.executable).with_name("tierbuffer"))


def test_the_lock_is_exclusive_names_its_holder_and_is_released(tmp_path: Path) -> None:
    db = tmp_path / "tierbuffer.db"
    with ServiceLock(db) as held:
        assert held.path == tmp_path / "tierbuffer.db.lock"
        with pytest.raises(ServiceLockedError) as refused:
            ServiceLock(db).acquire()
        assert refused.value.holder == str(os.getpid())
        assert f"pid {os.getpid()}" in str(refused.value) and str(held.path) in str(refused.value)
    again = ServiceLock(db)
    again.acquire()
    again.release()
    again.release()  # twice is fine
    with ServiceLock(tmp_path / "other.db"), ServiceLock(db):
        pass  # locks of different databases are independent


def test_a_lock_dies_with_its_holder(tmp_path: Path) -> None:
    db = tmp_path / "tierbuffer.db"
    script = (
        "import sys; from pathlib import Path; from adapters.runtime.lock import ServiceLock; "
        "lock = ServiceLock(Path(sys.argv[1])); lock.acquire(); print('locked', flush=True); "
        "sys.stdin.read()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(ServiceLockedError) as refused:
            ServiceLock(db).acquire()
        assert refused.value.holder == str(holder.pid)
        holder.kill()  # no chance to release it
        assert holder.wait(DEADLINE_S) == -signal.SIGKILL
    with ServiceLock(db):
        pass


@pytest.mark.anyio
async def test_a_second_service_on_the_same_database_is_refused(make_config: ConfigMaker) -> None:
    config = make_config()
    async with bootstrap.service(config) as first:
        with pytest.raises(ServiceLockedError):
            async with bootstrap.service(config):
                pytest.fail("a second service started")
        assert len(await logged(first, ServiceStarted)) == 1  # the refused one wrote nothing
    async with bootstrap.service(config) as second:  # allowed once the first stopped
        assert len(await logged(second, ServiceStarted)) == 2


async def read_until(stream: ByteReceiveStream, text: str) -> str:
    seen = ""
    with anyio.fail_after(DEADLINE_S):
        async for data in stream:
            seen += data.decode(errors="replace")
            if text in seen:
                return seen
    raise AssertionError(f"{text!r} never came; got {seen!r}")


@pytest.mark.anyio
@pytest.mark.timeout(180)
async def test_sigterm_stops_serve_cleanly(tmp_path: Path, library: Path) -> None:
    db, cache = tmp_path / "tierbuffer.db", tmp_path / "chunks"
    serve = [TIERBUFFER, "--db", str(db), "serve", "--library", str(library)]
    serve += ["--cache-dir", str(cache), "--workers", "1"]
    async with await anyio.open_process(serve, stdin=subprocess.DEVNULL) as service:
        try:
            assert service.stderr is not None
            await read_until(service.stderr, "service ready:")

            second = await anyio.run_process(serve, check=False, stdin=subprocess.DEVNULL)
            message = second.stderr.decode()
            assert second.returncode == 2, message
            assert "another tierbuffer service is running" in message
            assert "internal error" not in message

            service.send_signal(signal.SIGTERM)
            rest = await read_until(service.stderr, "stopping")
            with anyio.fail_after(DEADLINE_S):
                assert await service.wait() == 0, rest
        finally:
            if service.returncode is None:  # a failed check: do not wait forever on close
                service.kill()

    async with open_log(db, create=False, migrate=False) as log:
        events = [r async for r in log.events.read()]
        latest = await log.snapshots.latest_seq()
    assert sum(isinstance(r.event, TrackAdded) for r in events) == len(TRACKS)  # its start scan
    assert isinstance(events[-1].event, ServiceStopped) and events[-1].event.reason == "stopped"
    assert latest == events[-1].seq, "no snapshot at the stop"
    verify = await anyio.run_process([TIERBUFFER, "--db", str(db), "verify"], check=False)
    assert verify.returncode == 0, verify.stdout.decode() + verify.stderr.decode()


def test_the_lock_is_keyed_on_the_database_file_not_its_path(tmp_path: Path) -> None:
    """A symlink, another spelling of the path, or a deleted `.lock` file meet the same lock."""
    db = tmp_path / "tierbuffer.db"
    link = tmp_path / "elsewhere.db"
    with ServiceLock(db) as held:
        link.symlink_to(db)
        with pytest.raises(ServiceLockedError):
            ServiceLock(link).acquire()
        with pytest.raises(ServiceLockedError):
            ServiceLock(tmp_path / "." / "tierbuffer.db").acquire()
        held.path.unlink()  # the pid file is gone: the lock is not
        with pytest.raises(ServiceLockedError):
            ServiceLock(db).acquire()
    with ServiceLock(link):
        pass


def test_a_database_path_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DatabaseError) as raised:
        ServiceLock(blocker / "tierbuffer.db").acquire()
    assert "cannot open" in str(raised.value)
