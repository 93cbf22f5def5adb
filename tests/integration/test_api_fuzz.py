"""Whatever a client sends, the API never answers 5xx."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from tests.integration.api_client import Api, make_api

OPENAPI = json.loads((ROOT / "functions" / "api" / "openapi.json").read_text())
# Every route of the committed OpenAPI document (a stale copy fails its own test), plus a
# real provider and a route that does not exist.
ROUTES = [
    (method.upper(), re.sub(r"\{[^}]+\}", "{x}", path))
    for path, operations in OPENAPI["paths"].items()
    for method in operations
] + [("POST", "/v1/webhooks/postmark"), ("PATCH", "/v1/{x}")]
EXAMPLES = 3000
TRIED: list[int] = []
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "email": st.sampled_from(["a@b.io", " A@B.IO", "x", ""]) | st.text(max_size=20),
        "type": st.sampled_from(["page_view", "form_submit", ""]) | scalars,
        "id": scalars,
        "occurred_at": st.sampled_from(["2026-01-01T00:00:00Z", "9999-99-99"]) | scalars,
        "properties": documents,
        "profile": documents,
        "product": scalars,
        "outcome": st.sampled_from(["won", "lost", "x"]),
        "company_size": st.text(max_size=12),
        "_redirect": st.text(max_size=30),
        "_gotcha": st.text(max_size=3),
    },
)
bodies = (
    st.none()
    | st.text(max_size=200)
    | st.binary(max_size=200)
    | documents.map(json.dumps)
    | event_like.map(json.dumps)
    | st.lists(event_like, max_size=5).map(json.dumps)
)
content_types = st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
)


@pytest.fixture(scope="module")
def api() -> Any:
    from moto import mock_aws

    monkeypatch = pytest.MonkeyPatch()
    with mock_aws():
        import boto3
        from leadscore_tools.template import table_definition

        boto3.client("dynamodb").create_table(TableName="leadscore-test", **table_definition())
        yield make_api(
            monkeypatch,
            LEADSCORE_API_KEY="k",
            LEADSCORE_CORS_ORIGINS="https://www.vendor.example",
        )
    monkeypatch.undo()
    faults = sum(status >= 500 for status in TRIED)
    print(f"\nfuzzed {len(TRIED)} requests over {len(ROUTES)} routes: {faults} answered 5xx")
    from leadscore.settings import settings

    settings.cache_clear()  # the next test must not see this module's queue


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    route=st.sampled_from(ROUTES),
    segment=st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s and "?" not in s),
    body=bodies,
    content_type=content_types,
    key=st.sampled_from([{"x-api-key": "k"}, {}]),
    origin=st.sampled_from(["https://www.vendor.example", "https://evil.example", ""]),
)
def test_no_client_input_causes_a_5xx(
    api: Api,
    route: tuple[str, str],
    segment: str,
    body: str | bytes | None,
    content_type: str,
    key: dict[str, str],
    origin: str,
) -> None:
    method, template = route
    headers = {**key, "content-type": content_type}
    if origin:
        headers["Origin"] = origin
    answer = api.call(method, template.replace("{x}", segment), body, headers=headers)
    TRIED.append(answer.status)
    assert answer.status < 500, (method, template, segment, body, answer.body)
    if answer.status >= 400:
        assert answer.headers["Content-Type"] == "application/problem+json"
        problem = answer.json()
        assert problem["status"] == answer.status and problem["title"]
