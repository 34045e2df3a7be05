"""No absolute server path reaches a client.

Failure details are written by workers, the library scanner and the operating system, and some
name files by their absolute path (an OSError's message does). The API is for players on other
machines: where the library, the chunk store and the database live on this one is none of their
business. `RedactPaths`, an ASGI middleware, rewrites every JSON and event-stream body so that a
path under one of the service's folders is shown relative to it (`/srv/music/a.flac` becomes
`a.flac`) and the folder itself by a name (`<library>`). Audio bodies pass untouched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

_TEXT = (b"application/json", b"text/event-stream")


def replacements(roots: Mapping[str, Path]) -> list[tuple[bytes, bytes]]:
    """(what, by) pairs for each folder named in `roots`, as written in JSON, longest first;
    each folder as given and resolved (a symlink's target)."""
    pairs: dict[bytes, bytes] = {}
    for label, root in roots.items():
        for form in {str(root), str(root.resolve())}:
            if form in ("", "/", "."):
                continue
            written = json.dumps(form)[1:-1].encode()  # as it appears inside a JSON string
            pairs[written + b"/"] = b""
            pairs[written] = f"<{label}>".encode()
    return sorted(pairs.items(), key=lambda pair: -len(pair[0]))


class RedactPaths:
    def __init__(self, app: ASGIApp, roots: Mapping[str, Path]) -> None:
        self.app = app
        self.pairs = replacements(roots)

    def redact(self, body: bytes) -> bytes:
        for what, by in self.pairs:
            if what in body:
                body = body.replace(what, by)
        return body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.pairs:
            await self.app(scope, receive, send)
            return
        response = _Response()

        async def redacting(message: Message) -> None:
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers", [])).get(b"content-type", b"")
                if kind.split(b";")[0] in _TEXT:
                    response.start, response.text = message, True
                    return  # sent with the first body, whose length may change
            elif message["type"] == "http.response.body" and response.text:
                body = self.redact(message.get("body", b""))
                message = {**message, "body": body}
                if response.start is not None:
                    start, response.start = response.start, None
                    if not message.get("more_body", False):
                        start = _with_length(start, len(body))
                    await send(start)
            await send(message)

        await self.app(scope, receive, redacting)


class _Response:
    start: Message | None = None  # held back until the first body
    text: bool = False  # JSON or an event stream: redacted


def _with_length(start: Message, length: int) -> Message:
    """The start message with `length` as its content-length, if it had one."""
    headers = start.get("headers", [])
    if not any(name == b"content-length" for name, _ in headers):
        return start
    kept = [(name, value) for name, value in headers if name != b"content-length"]
    return {**start, "headers": [*kept, (b"content-length", str(length).encode())]}
