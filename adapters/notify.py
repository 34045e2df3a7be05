"""The service manager's notification protocol (systemd's `sd_notify`), without libsystemd.

A service started with `Type=notify` finds a Unix datagram socket in `$NOTIFY_SOCKET` (a path, or
`@name` in the abstract namespace) and sends it newline-separated `KEY=VALUE` lines:

- `READY=1` (with a `STATUS=` line `systemctl status` shows) once the service serves;
- `WATCHDOG=1` at least every `$WATCHDOG_USEC` microseconds (we send every half of it) when the
  unit sets `WatchdogSec=`; `$WATCHDOG_PID`, when set, must be this process;
- `STOPPING=1` when it begins to stop.

Without `$NOTIFY_SOCKET` every call does nothing. A socket that refuses a datagram is logged once
and otherwise ignored: the service manager's trouble must not stop the service.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping

import anyio
from anyio.abc import TaskStatus

logger = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[object]]


class Notifier:
    def __init__(self, address: str | None, *, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self.sent: list[str] = []  # what was sent, for the status line and tests
        self._warned = False

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] = os.environ, pid: int | None = None
    ) -> Notifier:
        address = environ.get("NOTIFY_SOCKET") or None
        usec = environ.get("WATCHDOG_USEC", "")
        owner = environ.get("WATCHDOG_PID", "")
        mine = not owner or owner == str(pid if pid is not None else os.getpid())
        watchdog = int(usec) if usec.isdigit() and int(usec) > 0 and mine else None
        return cls(address, watchdog_usec=watchdog)

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to ping: half the watchdog timeout, or None without a watchdog."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2_000_000

    def send(self, *lines: str) -> bool:
        """Send one datagram of `lines`; False when there is nowhere to send it or it failed."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        message = "\n".join(lines)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message.encode(), target)
        except OSError as e:
            if not self._warned:
                logger.warning("cannot notify the service manager at %s: %s", self.address, e)
                self._warned = True
            return False
        self.sent.append(message)
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def stopping(self, status: str = "stopping") -> bool:
        return self.send("STOPPING=1", f"STATUS={status}")

    async def keep_alive(
        self, probe: Probe, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Ping the watchdog every half timeout, each time after `probe` answered within that
        half: a service whose loop or fold is stuck stops pinging, and is restarted."""
        interval = self.watchdog_interval_s
        task_status.started()
        if interval is None or self.address is None:
            return
        logger.info("watchdog: pinging the service manager every %.1f s", interval)
        while True:
            with anyio.move_on_after(interval):
                await probe()
                self.send("WATCHDOG=1")
            await anyio.sleep(interval)
