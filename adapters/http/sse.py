"""`GET /v1/stream`: server-sent events of the log, from a sequence number, as it grows.

Each event is ``id: <seq>``, ``event: <type>``, ``data: <log entry JSON>``; a client that
reconnects with ``Last-Event-ID`` resumes after the last event it got. A comment line is sent
every heartbeat when nothing happens. Memory stays bounded whatever the client does: events are
read from the log a page at a time and written only as fast as the client takes them (the server
holds writes while the socket buffer is full); a write blocked past the send timeout, or a stream
past its event budget, ends the stream, and the client resumes from the log by its last id.
"""

from __future__ import annotations

from contextlib import aclosing

import anyio
import msgspec
from starlette.types import Receive, Scope, Send

from adapters.audit.export import closable
from adapters.http.config import HttpConfig
from adapters.http.views import log_entry
from adapters.runtime.player import Player

_encoder = msgspec.json.Encoder()


class EventStream:
    """An ASGI response; `streams` holds the cancel scopes of open streams (closed at shutdown)."""

    def __init__(
        self,
        player: Player,
        after: int,
        config: HttpConfig,
        streams: set[anyio.CancelScope],
    ) -> None:
        self.player = player
        self.after = after
        self.config = config
        self.streams = streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with anyio.CancelScope() as stream_scope:
            self.streams.add(stream_scope)
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_until_disconnected, receive, tg.cancel_scope)
                    await self._pump(send)
                    tg.cancel_scope.cancel()
            finally:
                self.streams.discard(stream_scope)
        with anyio.move_on_after(1):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, send: Send) -> None:
        cursor, sent = self.after, 0
        if not await self._send(send, b"retry: 1000\n\n"):
            return
        while True:
            async with aclosing(closable(self.player.rows(after=cursor))) as rows:
                async for row in rows:
                    data = _encoder.encode(log_entry(row))
                    head = f"id: {row.seq}\nevent: {row.type}\ndata: ".encode()
                    if not await self._send(send, head + data + b"\n\n"):
                        return
                    cursor, sent = row.seq, sent + 1
                    if sent >= self.config.stream_max_events:
                        return
            with anyio.move_on_after(self.config.heartbeat_s) as waited:
                await self.player.changed(cursor)
            if waited.cancelled_caught and not await self._send(send, b": heartbeat\n\n"):
                return

    async def _send(self, send: Send, frame: bytes) -> bool:
        """False when the client has not taken the frame within the send timeout."""
        with anyio.move_on_after(self.config.stream_send_timeout_s):
            await send({"type": "http.response.body", "body": frame, "more_body": True})
            return True
        return False


async def _until_disconnected(receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return
