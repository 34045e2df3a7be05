"""The OpenAPI 3.1 document served at `/v1/openapi.json`.

Schemas come from the msgspec structs the code itself decodes and encodes (events, chunk keys,
response bodies), so the document follows the code. An interaction body is an event of one of
the postable types with `at` (optional here: the server's clock) and `id` added.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from adapters.audit.explain import Explanation
from adapters.http.bodies import MAX_INT, POSTABLE
from adapters.http.config import MAX_WAIT_MS
from adapters.http.schemas import Accepted, ErrorBody, LogPage, Pending, Status, Tracks
from adapters.ingest import MAX_TIME_MS
from domain.events import EVENT_TYPES, PRESETS, ChunkKey

_REF = "#/components/schemas/{name}"
#: An ISO-8601 time the API takes: from 1970 on (a year 1970..9999 first).
_FROM_1970 = "^(19[7-9][0-9]|[2-9][0-9]{3})-"
JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _components() -> dict[str, Any]:
    postable = sorted(POSTABLE)
    types = [EVENT_TYPES[name] for name in postable]
    _, components = msgspec.json.schema_components(
        [*types, ChunkKey, Accepted, ErrorBody, Explanation, LogPage, Pending, Status, Tracks],
        ref_template=_REF,
    )
    at = {
        "description": "when it happened: ms since the epoch or ISO-8601 with a timezone "
        "(default: the server's clock)",
        "oneOf": [
            {"type": "integer", "minimum": 0, "maximum": MAX_TIME_MS},
            {"type": "string", "format": "date-time", "pattern": _FROM_1970},
        ],
    }
    ident = {"type": "string", "format": "uuid", "description": "idempotency key (a UUID)"}
    for name in postable:
        request = copy.deepcopy(components[name])
        request["properties"].update({"at": at, "id": ident})
        request["title"] = f"{name}Request"
        components[f"{name}Request"] = request
    components["Interaction"] = {
        "oneOf": [_ref(f"{name}Request") for name in postable],
        "discriminator": {
            "propertyName": "type",
            "mapping": {name: _REF.format(name=f"{name}Request") for name in postable},
        },
    }
    return components


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref("ErrorBody")}}}


def _ok(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(name)}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


_WAIT = _query(
    "wait_ms",
    {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_MS},
    "how long to wait for a chunk that is not ready (default 10000)",
)
#: While the log cannot be written (degraded mode), with Retry-After.
_UNWRITABLE = {
    "503": {
        "description": "the log cannot be written now (busy, read-only, replaced): nothing was "
        "recorded; try again after Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {JSON: {"schema": _ref("ErrorBody")}},
    },
    "507": {
        "description": "the log's disk is full: nothing was recorded; try again after "
        "Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {JSON: {"schema": _ref("ErrorBody")}},
    },
}
#: While the log cannot be read.
_UNREADABLE = {
    "503": {
        "description": "the log cannot be read now; try again after Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {JSON: {"schema": _ref("ErrorBody")}},
    },
}
_CHUNK_RESPONSES = {
    "200": {
        "description": "the chunk (a hit, or rendered while waiting): 16-bit FLAC",
        "headers": {
            "X-Chunk-Checksum": {"schema": {"type": "string"}, "description": "SHA-256 hex"},
            "X-Chunk-Status": {"schema": {"enum": ["hit", "rendered"]}},
            "X-Chunk-Tier": {"schema": {"type": "string"}},
        },
        "content": {"audio/flac": {"schema": {"type": "string", "format": "binary"}}},
    },
    "202": {
        "description": "not ready within the deadline (it is the most urgent job), or its render "
        "failed and is tried again after a back-off: ask again after Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {JSON: {"schema": _ref("Pending")}},
    },
    "404": _error("nothing playing, unknown track or revision, or past the end"),
    "410": _error("the render failed on every attempt; tried again only when the file changes"),
    "422": _error("a bad parameter (named in `field`)"),
    **_UNWRITABLE,
}


_AFTER = _query(
    "after",
    {"type": "integer", "minimum": 0, "maximum": MAX_INT},
    "the story starts after this sequence number (default 0: the whole log)",
)
_EXPLAIN_RESPONSES = {
    "200": _ok("Explanation", "the chunk's story from the log, and where it stands now"),
    "404": _error("nothing playing, or the playing track has no such chunk"),
    "422": _error("a bad parameter (named in `field`)"),
    **_UNREADABLE,
}


def _paths() -> dict[str, Any]:
    types = {"type": "string", "enum": sorted(EVENT_TYPES)}
    moment = {
        "type": "string",
        "minLength": 1,
        "pattern": f"^([0-9]+|{_FROM_1970[1:]}.*)$",
        "description": "ms since the epoch or ISO-8601 with a timezone, not before 1970",
    }
    key_params = [
        _path("track", {"type": "string", "minLength": 1}),
        _path("revision", {"type": "integer", "minimum": 0, "maximum": MAX_INT}),
        _path("preset", {"enum": list(PRESETS)}),
        _path("intensity_tenths", {"type": "integer", "minimum": 0, "maximum": 10}),
        _path("index", {"type": "integer", "minimum": 0, "maximum": MAX_INT}),
    ]
    return {
        "/v1/interactions": {
            "post": {
                "summary": "Append one interaction (the `ingest` line schema)",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": _ref("Interaction")}},
                },
                "responses": {
                    "200": _ok(
                        "Accepted", "in the log; a retry with the same id gets the same seq"
                    ),
                    "400": _error("not JSON, or a bad header"),
                    "413": _error("body over the size limit"),
                    "422": _error("not a valid interaction (the bad field is named)"),
                    **_UNWRITABLE,
                },
            }
        },
        "/v1/chunks/{index}": {
            "get": {
                "summary": "Chunk `index` of the playing track at the current preset and intensity",
                "parameters": [
                    _path("index", {"type": "integer", "minimum": 0, "maximum": MAX_INT}),
                    _WAIT,
                ],
                "responses": _CHUNK_RESPONSES,
            }
        },
        "/v1/chunks/{track}/{revision}/{preset}/{intensity_tenths}/{index}": {
            "get": {
                "summary": "A chunk by its full key",
                "parameters": [*key_params, _WAIT],
                "responses": _CHUNK_RESPONSES,
            }
        },
        "/v1/status": {
            "get": {
                "summary": "Tiers, hit rates, plan, workers, memory level, library",
                "responses": {"200": _ok("Status", "the service now")},
            }
        },
        "/v1/tracks": {
            "get": {
                "summary": "The library as the log knows it",
                "responses": {
                    "200": _ok("Tracks", "tracks with their chunk counts"),
                    **_UNREADABLE,
                },
            }
        },
        "/v1/events": {
            "get": {
                "summary": "The event log, paged, with the filters of `tierbuffer log`",
                "parameters": [
                    _query(
                        "after",
                        {"type": "integer", "minimum": 0, "maximum": MAX_INT},
                        "only after this seq",
                    ),
                    _query(
                        "limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size"
                    ),
                    _query("type", types, "only this type"),
                    _query("track", {"type": "string"}, "only events about this track"),
                    _query("from", moment, "occurred at or after"),
                    _query("to", moment, "occurred at or before"),
                ],
                "responses": {
                    "200": _ok("LogPage", "a page"),
                    "422": _error("a bad filter"),
                    **_UNREADABLE,
                },
            }
        },
        "/v1/explain/{index}": {
            "get": {
                "summary": "Why chunk `index` of the playing track (current preset and "
                "intensity) was planned, rendered, evicted, waited on, failed or retried",
                "parameters": [
                    _path("index", {"type": "integer", "minimum": 0, "maximum": MAX_INT}),
                    _AFTER,
                ],
                "responses": _EXPLAIN_RESPONSES,
            }
        },
        "/v1/explain/{track}/{revision}/{preset}/{intensity_tenths}/{index}": {
            "get": {
                "summary": "Why a chunk (by its full key) was planned, rendered, evicted, "
                "waited on, failed or retried",
                "parameters": [*key_params, _AFTER],
                "responses": _EXPLAIN_RESPONSES,
            }
        },
        "/v1/stream": {
            "get": {
                "summary": "Server-sent events of the log from a sequence number (resumable)",
                "parameters": [
                    _query(
                        "after",
                        {"type": "integer", "minimum": 0, "maximum": MAX_INT},
                        "default: the log's end; a Last-Event-ID header, when given, wins",
                    ),
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "pattern": "^[0-9]+$", "maxLength": 16},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "`id: seq`, `event: type`, `data: log entry`",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "422": _error("a bad Last-Event-ID"),
                    "503": _error("too many open streams"),
                },
            }
        },
        "/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "tierbuffer", "version": "1"},
        "components": {
            "schemas": _components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
        "paths": _paths(),
    }
