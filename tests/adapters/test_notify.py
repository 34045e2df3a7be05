"""The service manager's notification protocol, against a datagram socket the test opens."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from adapters.notify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(10)
    try:
        yield sock
    finally:
        sock.close()


def received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_ready_status_and_stopping_arrive_as_datagrams(listener: socket.socket) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": listener.getsockname()})
    assert notifier.ready("serving 4 tracks")
    assert received(listener) == "READY=1\nSTATUS=serving 4 tracks"
    assert notifier.status("rescanning")
    assert received(listener) == "STATUS=rescanning"
    assert notifier.stopping()
    assert received(listener) == "STOPPING=1\nSTATUS=stopping"


def test_an_abstract_socket_address(tmp_path: Path) -> None:
    name = f"tierbuffer-test-{tmp_path.name}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(10)
        assert Notifier.from_environ({"NOTIFY_SOCKET": "@" + name}).ready("up")
        assert received(sock).startswith("READY=1")


def test_without_a_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.ready("up") and notifier.sent == []
    assert notifier.watchdog_interval_s is None


def test_the_watchdog_interval_is_half_the_timeout_and_only_for_this_process() -> None:
    env = {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000"}
    assert Notifier.from_environ(env).watchdog_interval_s == 15.0
    assert Notifier.from_environ({**env, "WATCHDOG_PID": "1"}, pid=1).watchdog_interval_s == 15.0
    assert Notifier.from_environ({**env, "WATCHDOG_PID": "1"}, pid=2).watchdog_interval_s is None
    assert Notifier.from_environ({**env, "WATCHDOG_USEC": "soon"}).watchdog_interval_s is None


def test_a_refusing_socket_is_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert not notifier.ready("up") and not notifier.stopping()
    assert len([r for r in caplog.records if "cannot notify" in r.getMessage()]) == 1


@pytest.mark.anyio
async def test_keep_alive_pings_while_the_probe_answers(listener: socket.socket) -> None:
    notifier = Notifier.from_environ(
        {"NOTIFY_SOCKET": listener.getsockname(), "WATCHDOG_USEC": "100000"}
    )
    listener.setblocking(False)
    answered = anyio.Event()

    async def probe() -> None:
        await answered.wait()

    async with anyio.create_task_group() as tg:
        await tg.start(notifier.keep_alive, probe)
        await anyio.sleep(0.3)  # a stuck probe: no ping
        with pytest.raises(BlockingIOError):
            listener.recv(64)
        answered.set()
        with anyio.fail_after(10):
            pings = 0
            while pings < 3:
                await anyio.wait_readable(listener)
                pings += listener.recv(64) == b"WATCHDOG=1"
        tg.cancel_scope.cancel()
