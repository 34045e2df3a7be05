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
MAX_HEADER_BYTES: Final[int] = 16 * 1024
#: A token must be at least this long, of visible ASCII without spaces (it travels in a header).
MIN_TOKEN_CHARS: Final[int] = 16


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
    #: The request line and headers together: a header, a header count or a URL past this is
    #: answered 400 (uvicorn's h11_max_incomplete_event_size).
    max_header_bytes: int = MAX_HEADER_BYTES
    #: A request must arrive whole this long after its connection opened or the last response.
    request_timeout_s: float = 10.0
    #: An idle connection is closed after this long.
    keep_alive_s: int = 5
    #: Open connections beyond this are answered 503 and closed.
    max_connections: int = 256

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise HttpConfigError(f"{self.host}:{self.port}", "port must be 0..65535")
        where = f"{self.host}:{self.port}"
        if not is_loopback(self.host) and self.token is None:
            raise HttpConfigError(
                where, "binding off loopback needs a token (--token or $TIERBUFFER_TOKEN)"
            )
        if self.token is not None and not good_token(self.token):
            raise HttpConfigError(
                where,
                f"a token must be at least {MIN_TOKEN_CHARS} characters of visible ASCII, "
                "without spaces",
            )
        limits = (self.max_header_bytes, self.request_timeout_s, self.keep_alive_s)
        if min(*limits, self.max_connections, self.max_body_bytes) <= 0:
            raise HttpConfigError(where, "every limit must be positive")


def good_token(token: str) -> bool:
    """At least MIN_TOKEN_CHARS characters, each visible ASCII (no space, no control)."""
    return len(token) >= MIN_TOKEN_CHARS and all("!" <= c <= "~" for c in token)


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
