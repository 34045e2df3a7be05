"""The HTTP server, run as a task of the service: ``port = await tg.start(server.run)``.

Starlette (anyio-native, so handlers run on the service's own event loop and await its state
directly) served by uvicorn's `Server.serve` on a socket bound here, so readiness is the bound
socket and an ephemeral port (0) is known at once. uvicorn's signal handling is left out: the
service owns SIGTERM/SIGINT. On cancellation the open event streams are ended and uvicorn is
asked to shut down gracefully (bounded), so no socket outlives the service.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import uvicorn
from anyio.abc import TaskStatus
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from adapters.http.auth import BearerAuth
from adapters.http.bodies import ApiError
from adapters.http.config import HttpConfig, HttpConfigError
from adapters.http.limits import HeaderLimits, limited
from adapters.http.redact import RedactPaths
from adapters.http.routes import Api, json_response
from adapters.http.schemas import ErrorBody, ErrorDetail
from adapters.runtime.player import Player
from adapters.runtime.writes import LogUnwritableError, retry_after_header
from storage.errors import DatabaseError, StoreError

if TYPE_CHECKING:
    from starlette.types import ASGIApp

logger = logging.getLogger(__name__)


def build_app(
    player: Player, config: HttpConfig, private: Mapping[str, Path] | None = None
) -> tuple[ASGIApp, Api]:
    """The API, behind its limits, its token check and the redaction of the `private` folders
    (by name: library, chunks, data) from what clients are shown."""
    api = Api(player, config)
    app = Starlette(
        routes=api.routes(),
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            LogUnwritableError: _log_unwritable,
            StoreError: _store_error,
            Exception: _internal_error,
        },
    )
    wrapped: ASGIApp = RedactPaths(app, private or {})
    wrapped = BearerAuth(wrapped, config.token) if config.token else wrapped
    wrapped = HeaderLimits(wrapped, config.max_header_bytes)
    return wrapped, api


async def _log_unwritable(request: Request, exc: Exception) -> Response:
    """The log cannot be written now: 507 while its disk is full, else 503; try again later."""
    assert isinstance(exc, LogUnwritableError)
    status = 507 if exc.cause == "disk_full" else 503
    code = "log-" + exc.cause.replace("_", "-")
    message = f"the event log cannot be written now: {exc.detail}; nothing was recorded"
    headers = {"Retry-After": retry_after_header(exc.retry_after_s)}
    return json_response(ErrorBody(ErrorDetail(code, message)), status, headers)


async def _store_error(request: Request, exc: Exception) -> Response:
    """The log cannot be read now (or is damaged): 503, without the database's path."""
    assert isinstance(exc, StoreError)
    reason = getattr(exc, "reason", None) if isinstance(exc, DatabaseError) else str(exc)
    message = f"the event log cannot be used now: {reason or type(exc).__name__}"
    headers = {"Retry-After": "5"}
    return json_response(ErrorBody(ErrorDetail("log-unavailable", message)), 503, headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    """A bug: a JSON 500 naming only the error's type (the traceback goes to the log)."""
    message = f"internal error ({type(exc).__name__}); the service log has the details"
    return json_response(ErrorBody(ErrorDetail("internal", message)), 500)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    body = ErrorBody(ErrorDetail(exc.code, exc.message, exc.field))
    return json_response(body, exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = "not-found" if exc.status_code == 404 else "method-not-allowed"
    if exc.status_code not in (404, 405):
        code = "bad-request"
    return json_response(
        ErrorBody(ErrorDetail(code, str(exc.detail))), exc.status_code, exc.headers
    )


class _EmbeddedServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.accepting = anyio.Event()  # started: it answers requests

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the service handles signals
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.accepting.set()


class HttpServer:
    def __init__(
        self, config: HttpConfig, player: Player, *, sock: socket.socket | None = None
    ) -> None:
        """`sock`: a socket already listening (`listen`), so that a port that is taken is
        refused before the service starts."""
        self.config = config
        self.player = player
        self._sock = sock
        self.private: dict[str, Path] = {}  # folders whose paths clients never see, by name

    def bind(self) -> socket.socket:
        return self._sock if self._sock is not None else self.listen(self.config)

    @staticmethod
    def listen(config: HttpConfig) -> socket.socket:
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only when the
        # protocol says TCP; without it small responses wait 40 ms on delayed ACKs.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((config.host, config.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as e:
            sock.close()
            where = f"{config.host}:{config.port}"
            raise HttpConfigError(where, f"cannot listen: {e.strerror or e}") from e
        return sock

    async def run(self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; reports the bound port once it answers requests."""
        app, api = build_app(self.player, self.config, self.private)
        uconfig = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            http=limited(self.config.request_timeout_s, self.config.max_connections),
            h11_max_incomplete_event_size=self.config.max_header_bytes,
            timeout_keep_alive=self.config.keep_alive_s,
            ws="none",
            timeout_graceful_shutdown=2,
        )
        server = _EmbeddedServer(uconfig)
        sock = self.bind()
        port = int(sock.getsockname()[1])
        done = anyio.Event()

        async def serve() -> None:
            try:
                with anyio.CancelScope(shield=True):
                    await server.serve(sockets=[sock])
            finally:
                sock.close()
                done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            await server.accepting.wait()  # a failed start raises from `serve` instead
            logger.info("HTTP API on %s:%d", self.config.host, port)
            task_status.started(port)
            try:
                await anyio.sleep_forever()
            finally:
                server.should_exit = True
                for scope in list(api.streams):
                    scope.cancel()
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    await done.wait()
