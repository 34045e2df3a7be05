"""Bearer-token check for every request, compared in constant time. The scheme is matched
without regard to case (`bearer`, `BEARER`: RFC 9110 says auth schemes are case-insensitive), the
token exactly."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

_ERROR = (
    b'{"error":{"code":"unauthorized","message":"a valid bearer token is required",'
    b'"field":"Authorization"}}'
)


class BearerAuth:
    """ASGI middleware: with a token configured, a request without `Authorization: Bearer
    <token>` gets 401 before any route sees it."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        scheme, _, credentials = given.strip().partition(b" ")
        matches = hmac.compare_digest(credentials.strip(), self._expected)
        if matches and scheme.lower() == b"bearer":
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="tierbuffer"'),
                    (b"content-length", str(len(_ERROR)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _ERROR})
