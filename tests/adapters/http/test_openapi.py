"""The OpenAPI document against the implementation: schemathesis generates requests from the
document (valid and invalid), sends them over HTTP, and checks every answer is declared there:
status code, content type and body schema, and never a server error."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from adapters.runtime.service import Service

pytestmark = pytest.mark.anyio

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
#: Chunks first: with nothing playing they answer at once (a posted TrackChanged would make
#: them wait for renders).
OPERATIONS = [
    ("/v1/chunks/{index}", "GET", 10),
    ("/v1/chunks/{track}/{revision}/{preset}/{intensity_tenths}/{index}", "GET", 10),
    ("/v1/status", "GET", 5),
    ("/v1/tracks", "GET", 3),
    ("/v1/events", "GET", 30),
    ("/v1/explain/{index}", "GET", 5),
    ("/v1/explain/{track}/{revision}/{preset}/{intensity_tenths}/{index}", "GET", 5),
    ("/v1/interactions", "POST", 60),
]


def _exercise(document: dict[str, Any], base_url: str) -> None:
    schema = schemathesis.openapi.from_dict(document)
    with requests.Session() as session:
        for path, method, examples in OPERATIONS:
            operation = schema[path][method]

            @given(case=operation.as_strategy())
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                case.call_and_validate(base_url=base_url, session=session, checks=CHECKS)

            check()


async def test_the_implementation_answers_as_the_openapi_document_says(
    service: Service, client: httpx.AsyncClient
) -> None:
    document = (await client.get("/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    assert {"/v1/interactions", "/v1/stream", "/v1/status", "/v1/events"} <= set(document["paths"])
    with anyio.fail_after(100):
        await anyio.to_thread.run_sync(_exercise, document, str(client.base_url))
