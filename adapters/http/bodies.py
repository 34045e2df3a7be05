"""Reading requests: bounded bodies, interactions parsed with the `ingest` schema, query values.

Every failure is an `ApiError` carrying the HTTP status and the field it is about; the routes
turn it into a JSON error body. Nothing that fails here reaches the log.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

import msgspec
from starlette.requests import ClientDisconnect, Request

from adapters.errors import AdapterError
from adapters.ingest import MAX_INT as MAX_INT  # the bound of query and path integers too
from adapters.ingest import EventParseError, check_depth, parse_object
from domain.events import INTERACTION_TYPES, NewEvent

#: What a player may post: its own interactions. Worker outcomes, library and lifecycle facts
#: are the service's to record.
POSTABLE = frozenset({*INTERACTION_TYPES, "NextTrackQueued"})
_KEY_NAMESPACE = uuid.UUID("0b8a3c52-1f7e-4d1b-a6f2-93c4e5d7a810")


class ApiError(AdapterError):
    """A request the API refuses, with its status code and the field it is about."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past `limit` bytes (declared or actually sent)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "bad-request", "Content-Length is not a number", "Content-Length")
        if int(declared) > limit:
            raise ApiError(413, "too-large", f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "too-large", f"request body over {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect as e:  # gone, or cut off at the request deadline: nothing appended
        raise ApiError(408, "timeout", "the request body did not arrive whole") from e
    return b"".join(chunks)


def event_id_for(idempotency_key: str | None, new_id: Callable[[], str]) -> str:
    """The event id: the Idempotency-Key itself when it is a UUID, else a UUID derived from it,
    so a retried request is appended once; a fresh id when the client gave no key."""
    if idempotency_key is None:
        return new_id()
    key = idempotency_key.strip()
    if not key or len(key) > 200:
        raise ApiError(
            400, "invalid", "Idempotency-Key must be 1..200 characters", "Idempotency-Key"
        )
    try:
        return str(uuid.UUID(key))
    except ValueError:
        return str(uuid.uuid5(_KEY_NAMESPACE, key))


def parse_interaction(body: bytes, *, default_id: str, now_ms: int) -> NewEvent:
    """An interaction in the `ingest` line schema; `at` defaults to the server's clock."""
    try:
        check_depth(body)
    except EventParseError as e:
        raise ApiError(400, "too-deep", e.reason) from e
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as e:
        raise ApiError(400, "not-json", f"body is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise ApiError(422, "invalid", "body must be a JSON object")
    kind = data.get("type")
    if isinstance(kind, str) and kind not in POSTABLE:
        allowed = ", ".join(sorted(POSTABLE))
        raise ApiError(422, "invalid", f"type {kind!r} is not an interaction ({allowed})", "type")
    try:
        return parse_object(data, default_id=default_id, default_at=now_ms)
    except EventParseError as e:
        raise ApiError(422, "invalid", e.reason, e.field) from e


def query_int(
    query: Mapping[str, str], name: str, default: int, *, low: int = 0, high: int = MAX_INT
) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise ApiError(422, "invalid", f"`{name}` must be an integer", name) from e
    if not low <= value <= high:
        raise ApiError(422, "invalid", f"`{name}` must be {low}..{high}", name)
    return value
