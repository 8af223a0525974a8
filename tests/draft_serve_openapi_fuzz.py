"""The served /openapi.json against the server it describes, under a schema-driven fuzzer
(schemathesis): every route, content type and status the document gives must be what the server
does, with an API key set. Bounded: a few examples per operation, no stateful phase."""

from __future__ import annotations

import json

import pytest
from serve_helpers import running_server

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

KEY = "fuzz-key"
LIMITS = ["--max_text_chars", "200", "--max_batch_texts", "8"]


@schemathesis.serializer("application/jsonlines")
def _jsonlines(ctx, value):
    # The document describes a JSON Lines body as its text: sent as it is.
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


@pytest.fixture(scope="module")
def served_document(tiny_trained):
    with running_server(tiny_trained, "--api_key", KEY, *LIMITS) as url:
        yield schemathesis.openapi.from_url(url + "/openapi.json")


document = schemathesis.pytest.from_fixture("served_document")


@document.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_server_does_what_its_document_says(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
