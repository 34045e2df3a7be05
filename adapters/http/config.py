"""Where the HTTP API listens and who may call it.

Loopback (``ipaddress.ip_address(host).is_loopback``, or ``localhost``) is the default and needs
no token. Any other address needs a bearer token, which every request must then carry; a token
given on loopback is required there too.
"""

from __future__ import annotations

import ipaddress
from typing import Final

import msgspec

from adapters.errors import AdapterError

MAX_BODY_BYTES: Final[int] = 64 * 1024
MAX_WAIT_MS: Final[int] = 30_000


class HttpConfigError(AdapterError):
    """The HTTP settings cannot be served as given."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"--http {value}: {reason}")
        self.value = value
        self.reason = reason


class HttpConfig(msgspec.Struct, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8770
    token: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    heartbeat_s: float = 15.0
    #: A stream ends after this many events (the client resumes with Last-Event-ID), and when
    #: one write to the client is blocked this long: a slow client never grows our memory.
    stream_max_events: int = 10_000
    stream_send_timeout_s: float = 30.0
    max_streams: int = 32

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise HttpConfigError(f"{self.host}:{self.port}", "port must be 0..65535")
        if not is_loopback(self.host) and not self.token:
            raise HttpConfigError(
                f"{self.host}:{self.port}",
                "binding off loopback needs a token (--token or $TIERBUFFER_TOKEN)",
            )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_bind(value: str, *, token: str | None = None) -> HttpConfig:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) or just ``PORT`` on 127.0.0.1."""
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", value
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError as e:
        raise HttpConfigError(value, "expected HOST:PORT") from e
    return HttpConfig(host=host, port=port, token=token or None)
