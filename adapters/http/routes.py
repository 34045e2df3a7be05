"""The endpoints under `/v1/`: each reads its request, asks the service, answers JSON or audio."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.audit.explain import ExplainError, explain_chunk
from adapters.audit.export import closable, parse_moment
from adapters.http.bodies import (
    MAX_INT,
    ApiError,
    event_id_for,
    parse_interaction,
    query_int,
    read_body,
)
from adapters.http.config import MAX_WAIT_MS, HttpConfig
from adapters.http.openapi import openapi_document
from adapters.http.schemas import Accepted, LogPage, Pending
from adapters.http.sse import EventStream
from adapters.http.views import log_entry, status_of, tracks_of
from adapters.ingest import EventParseError
from adapters.runtime.player import ChunkResult, Player
from domain.events import EVENT_TYPES, ChunkKey, Preset, Tenths, TrackId
from domain.tiers import chunk_id

_encoder = msgspec.json.Encoder()
MAX_PAGE = 1000
#: The types a chunk key's path segments must have (the integers are checked by `_path_int`).
_KEY_FIELDS: dict[str, Any] = {"track": TrackId, "preset": Preset, "intensity_tenths": Tenths}


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(_encoder.encode(body), status, headers, media_type="application/json")


class Api:
    def __init__(self, player: Player, config: HttpConfig) -> None:
        self.player = player
        self.config = config
        self.streams: set[anyio.CancelScope] = set()
        self._openapi = _encoder.encode(openapi_document())
        self._explaining = anyio.Lock()

    def routes(self) -> list[Route]:
        get: list[tuple[str, Callable[[Request], Awaitable[Response]]]] = [
            ("/v1/status", self.status),
            ("/v1/tracks", self.tracks),
            ("/v1/chunks/{index}", self.chunk_playing),
            ("/v1/chunks/{track}/{revision}/{preset}/{intensity_tenths}/{index}", self.chunk_key),
            ("/v1/events", self.events),
            ("/v1/explain/{index}", self.explain_playing),
            (
                "/v1/explain/{track}/{revision}/{preset}/{intensity_tenths}/{index}",
                self.explain_key,
            ),
            ("/v1/openapi.json", self.openapi),
        ]
        return [
            Route("/v1/interactions", self.interact, methods=["POST"]),
            Route("/v1/stream", self.stream, methods=["GET"]),
            *(Route(path, handler, methods=["GET"]) for path, handler in get),
        ]

    async def interact(self, request: Request) -> Response:
        player = self.player
        body = await read_body(request, self.config.max_body_bytes)
        default_id = event_id_for(request.headers.get("idempotency-key"), player.new_id)
        new = parse_interaction(body, default_id=default_id, now_ms=player.now())
        seq = await player.interact(new.event, event_id=new.event_id, occurred_at=new.occurred_at)
        return json_response(Accepted(seq, new.event_id))

    async def chunk_playing(self, request: Request) -> Response:
        index = _path_int(request, "index")
        wait_s = query_int(request.query_params, "wait_ms", 10_000, high=MAX_WAIT_MS) / 1000
        return _chunk_response(await self.player.chunk(index, wait_s=wait_s))

    async def chunk_key(self, request: Request) -> Response:
        key = _path_key(request)
        wait_s = query_int(request.query_params, "wait_ms", 10_000, high=MAX_WAIT_MS) / 1000
        return _chunk_response(await self.player.chunk_by_key(key, wait_s=wait_s))

    async def explain_playing(self, request: Request) -> Response:
        return await self._explain(request, _path_int(request, "index"))

    async def explain_key(self, request: Request) -> Response:
        return await self._explain(request, _path_key(request))

    async def _explain(self, request: Request, target: ChunkKey | int) -> Response:
        """One explanation at a time: each folds the log from `after` (default its start)."""
        after = query_int(request.query_params, "after", 0)
        async with self._explaining:
            try:
                explained = await explain_chunk(self.player.app.log, target, after=after)
            except ExplainError as e:
                raise ApiError(404, "unavailable", str(e)) from e
        return json_response(explained)

    async def status(self, request: Request) -> Response:
        return json_response(status_of(self.player))

    async def tracks(self, request: Request) -> Response:
        return json_response(tracks_of(self.player.state))

    async def events(self, request: Request) -> Response:
        query = request.query_params
        after = query_int(query, "after", 0)
        limit = query_int(query, "limit", 100, low=1, high=MAX_PAGE)
        types = set(query.getlist("type")) or None
        for name in types or ():
            if name not in EVENT_TYPES:
                raise ApiError(422, "invalid", f"unknown event type {name!r}", "type")
        begin, end = _moment(query.get("from"), "from"), _moment(query.get("to"), "to")
        track = query.get("track") or None
        entries, last = [], after
        rows = self.player.rows(after=after, types=types, track=track)
        async with aclosing(closable(rows)) as stream:
            async for row in stream:
                last = row.seq
                if (begin is None or row.occurred_at >= begin) and (
                    end is None or row.occurred_at <= end
                ):
                    entries.append(log_entry(row))
                    if len(entries) >= limit:
                        break
        full = len(entries) >= limit
        return json_response(LogPage(entries, last if full else None))

    async def stream(self, request: Request) -> Response | EventStream:
        if len(self.streams) >= self.config.max_streams:
            raise ApiError(503, "busy", "too many open streams; page with /v1/events")
        resume = request.headers.get("last-event-id")
        if resume is not None:
            digits = resume.strip()
            if not (digits.isascii() and digits.isdigit()) or int(digits) > MAX_INT:
                message = f"Last-Event-ID must be a sequence number 0..{MAX_INT}"
                raise ApiError(422, "invalid", message, "Last-Event-ID")
            after = int(digits)
        else:
            after = query_int(request.query_params, "after", self.player.state.seq)
        return EventStream(self.player, after, self.config, self.streams)

    async def openapi(self, request: Request) -> Response:
        return Response(self._openapi, media_type="application/json")


def _path_key(request: Request) -> ChunkKey:
    params = request.path_params
    for name, value in (
        ("track", params["track"]),
        ("preset", params["preset"]),
        ("intensity_tenths", _path_int(request, "intensity_tenths")),
    ):
        try:
            msgspec.convert(value, _KEY_FIELDS[name])
        except msgspec.ValidationError as e:
            raise ApiError(422, "invalid", f"`{name}`: {e}", name) from e
    return ChunkKey(
        params["track"],
        _path_int(request, "revision"),
        params["preset"],
        _path_int(request, "intensity_tenths"),
        _path_int(request, "index"),
    )


def _path_int(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not (isinstance(raw, str) and raw.isdigit()) or int(raw) > MAX_INT:
        raise ApiError(422, "invalid", f"`{name}` must be an integer 0..{MAX_INT}", name)
    return int(raw)


def _moment(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    try:
        return parse_moment(raw)
    except EventParseError as e:
        raise ApiError(422, "invalid", f"`{name}`: {e}", name) from e


def _chunk_response(result: ChunkResult) -> Response:
    if result.status == "unavailable":
        raise ApiError(404, "unavailable", result.detail)
    if result.status == "failed" and result.retry_after_ms is None:
        raise ApiError(410, "unrenderable", f"{result.detail}; tried again when the file changes")
    if result.data is None or result.key is None:
        retry = result.retry_after_ms
        pending = Pending(result.status, result.key, result.waited_ms, result.detail, retry)
        seconds = 1 if retry is None else max(1, -(-retry // 1000))
        return json_response(pending, 202, {"Retry-After": str(seconds)})
    headers = {
        "X-Chunk-Checksum": result.checksum or "",
        "X-Chunk-Status": result.status,
        "X-Chunk-Tier": result.tier or "",
        "X-Chunk-Key": chunk_id(result.key),
        "X-Waited-Ms": str(result.waited_ms),
        "ETag": f'"{result.checksum}"',
    }
    return Response(result.data, 200, headers, media_type="audio/flac")
