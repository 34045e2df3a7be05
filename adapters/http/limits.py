"""The limits a service on a network needs, on top of uvicorn's HTTP/1.1 protocol (h11).

uvicorn bounds the request line and headers only while they are incomplete
(`h11_max_incomplete_event_size`, set from `HttpConfig.max_header_bytes`: a head dripped in
slowly cannot grow past it) and answers that in plain text; a head that arrives whole in one
read can be larger, with any number of headers. It keeps a connection that sends half a request
for ever (its keep-alive timeout covers only the wait *between* requests), and its concurrency
limit answers in plain text too. So:

- `HeaderLimits`, the outermost ASGI middleware, answers 431 to a request whose line and headers
  together pass `max_header_bytes`, or that has more than `MAX_HEADERS` headers;

and `LimitedH11Protocol` adds, per connection:

- a deadline for each request: from the connection (or the previous response) until the whole
  request, headers and body, has arrived (`request_timeout_s`); past it the connection is closed,
  with a JSON 408 if part of a request came;
- a cap on open connections (`max_connections`): one more is answered with a JSON 503 and
  `Retry-After`, and closed;
- a JSON 400 for a request h11 cannot parse (malformed, or over the header size).

Errors have the API's one shape, `{"error": {"code", "message", "field"}}`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import h11
import msgspec
from uvicorn.protocols.http.h11_impl import H11Protocol

from adapters.http.schemas import ErrorBody, ErrorDetail

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 503: b"Service Unavailable"}
#: More headers than any player sends; each costs a little to parse and to look through.
MAX_HEADERS = 100


def raw_error(status: int, code: str, message: str, *, retry_after_s: int | None = None) -> bytes:
    """A whole HTTP/1.1 error response, JSON, closing the connection (written without h11,
    whose state may not allow a response yet)."""
    body = msgspec.json.encode(ErrorBody(ErrorDetail(code, message)))
    head = [
        b"HTTP/1.1 %d %s" % (status, _REASONS[status]),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
    ]
    if retry_after_s is not None:
        head.append(b"retry-after: %d" % retry_after_s)
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class LimitedH11Protocol(H11Protocol):
    """See the module's docstring; `request_timeout_s` and `max_connections` are class
    attributes, set by `limited` for one server."""

    request_timeout_s: float = 10.0
    max_connections: int = 256

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._partial = False  # bytes of a request came, the request is not whole yet
        self._refused = False  # over the connection cap: answered 503, closing

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._refuse(transport)
            return
        self._arm()

    def _refuse(self, transport: asyncio.Transport) -> None:
        """Answer 503 and end our side; what the client sends is dropped, and the connection
        closed a moment later (closing at once, with its request unread, would reset it and
        lose the answer)."""
        self._refused = True
        message = f"more than {self.max_connections} open connections; try again shortly"
        transport.write(raw_error(503, "busy", message, retry_after_s=1))
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(1.0, transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._partial = True
        super().data_received(data)
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._partial = False
            self._disarm()  # the request is whole: the application answers in its own time

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        message = f"not a valid HTTP request, or its line and headers are too long ({msg})"
        self.transport.write(raw_error(400, "bad-request", message))
        self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        answering = self.cycle is not None and not self.cycle.response_complete
        if answering and self.conn.their_state is h11.DONE:
            return  # the request came whole (pipelined after the last one): being answered
        started = self.cycle is not None and answering and self.cycle.response_started
        if self._partial and not started:
            message = f"the request did not arrive whole within {self.request_timeout_s:g} s"
            self.transport.write(raw_error(408, "timeout", message))
        self.transport.close()


def limited(request_timeout_s: float, max_connections: int) -> type[LimitedH11Protocol]:
    """The protocol class for one server, with its limits."""
    return type(
        "LimitedH11Protocol",
        (LimitedH11Protocol,),
        {"request_timeout_s": request_timeout_s, "max_connections": max_connections},
    )


class HeaderLimits:
    """ASGI middleware: 431 for a request line and headers over `max_bytes` together, or more
    than `MAX_HEADERS` headers, before anything else sees the request."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            size += sum(len(name) + len(value) + 4 for name, value in headers)
            if size > self.max_bytes or len(headers) > MAX_HEADERS:
                message = (
                    f"the request line and headers must be at most {self.max_bytes} bytes, "
                    f"with at most {MAX_HEADERS} headers"
                )
                body = msgspec.json.encode(ErrorBody(ErrorDetail("too-large", message)))
                start = {
                    "type": "http.response.start",
                    "status": 431,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
