"""Whatever a client sends, the API never answers 5xx and answers only what its OpenAPI
document lists for the route; a body of a route's schema is taken."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from tests.integration.api_client import Answer, Api, make_api
from tests.integration.test_api_responses import (
    assert_documented,
    assert_problem,
    route_of,
)

OPENAPI = json.loads((ROOT / "functions" / "api" / "openapi.json").read_text())
SCHEMAS = OPENAPI["components"]["schemas"]
# Every route of the committed OpenAPI document (a stale copy fails its own test), plus a
# real provider and a route that does not exist.
ROUTES = [
    (method.upper(), re.sub(r"\{[^}]+\}", "{x}", path))
    for path, operations in OPENAPI["paths"].items()
    for method in operations
] + [("POST", "/v1/webhooks/postmark"), ("PATCH", "/v1/{x}")]
# 3000 requests in all: any input, and bodies drawn from the routes' schemas (these cost
# the most to draw and to answer); then YAML texts on the routes that read them.
EXAMPLES = 2700
SCHEMA_EXAMPLES = 300
YAML_EXAMPLES = 200
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
# YAML whose scalars PyYAML reads but its constructors cannot build, or builds too large
yaml_scalars = st.sampled_from(
    [
        "2001-13-45",
        "2001-12-14t21:59:43.10+99:00",
        "1" * 5000,
        "0x" + "f" * 300,
        "!!bool maybe",
        "!!timestamp x",
        "!!float one",
        "!!int 0x",
        "!!binary '*'",
        ".inf",
    ]
)
yaml_drafts = st.builds(
    lambda key, value: f"id: default\n{key}: {value}\nfit: {{categories: [{value}]}}\n",
    st.sampled_from(["name", "description", "thresholds", "x"]),
    yaml_scalars | st.text(max_size=20),
)
bodies = (
    st.none()
    | st.text(max_size=200)
    | st.binary(max_size=200)
    | documents.map(json.dumps)
    | event_like.map(json.dumps)
    | st.lists(event_like, max_size=5).map(json.dumps)
    | yaml_drafts
)
content_types = st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "text/plain", "application/yaml", ""]
)

# ---------------------------------------------------------------- bodies from the schemas

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MOST_ITEMS = 3  # lists the schemas allow longer (500 events) stay short: many examples, fast
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)
OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
date_times = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(OFFSETS),
).map(lambda moment: moment.isoformat().replace("+00:00", "Z"))
# Objects this deep take only their required keys: a scoring model stays quick to draw.
OPTIONAL_DEPTH = 2
_refs: dict[tuple[str, int], st.SearchStrategy[Any]] = {}


def from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values valid against a JSON Schema of the document (the keywords pydantic writes)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if (name, depth) not in _refs:
            _refs[name, depth] = st.deferred(lambda: from_schema(SCHEMAS[name], depth))
        return _refs[name, depth]
    if "anyOf" in schema:
        return st.one_of([from_schema(branch, depth) for branch in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind is None:
        return json_values
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "number"):
        return _numbers(schema, integer=kind == "integer")
    if kind == "string":
        return _strings(schema)
    if kind == "array":
        most = min(schema.get("maxItems", MOST_ITEMS), MOST_ITEMS)
        return st.lists(
            from_schema(schema["items"], depth), min_size=schema.get("minItems", 0), max_size=most
        )
    if kind == "object":
        return _objects(schema, depth)
    raise ValueError(f"no strategy for {schema}")


def _numbers(schema: dict[str, Any], *, integer: bool) -> st.SearchStrategy[Any]:
    low, high = schema.get("minimum"), schema.get("maximum")
    above, below = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if integer:
        low = low if above is None else above + 1
        high = high if below is None else below - 1
        return st.integers(low, high)
    return st.floats(
        min_value=low if above is None else above,
        max_value=high if below is None else below,
        exclude_min=above is not None,
        exclude_max=below is not None,
        allow_nan=False,
        allow_infinity=False,
    )


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    shortest, longest = schema.get("minLength", 0), schema.get("maxLength", 40)
    if schema.get("format") == "date-time":
        return date_times
    if "pattern" in schema:
        pattern = schema["pattern"]
        sized = st.text(min_size=max(shortest, 1), max_size=min(longest, 40))
        if not pattern.startswith("^"):  # "\S": most text matches, from_regex is slow
            return sized.filter(lambda text: re.search(pattern, text) is not None)
        # ASCII for whole-text patterns (emails): lower() never changes their length. Whole
        # text: in JSON Schema (ECMA) `$` is the end, where Python's also takes a final "\n".
        return st.from_regex(pattern, fullmatch=True, alphabet=st.characters(codec="ascii")).filter(
            lambda text: shortest <= len(text) <= longest
        )
    return st.text(min_size=shortest, max_size=min(longest, 40))


def _objects(schema: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    optional = {} if depth >= OPTIONAL_DEPTH else properties
    known = st.fixed_dictionaries(
        {name: from_schema(properties[name], depth + 1) for name in required},
        optional={n: from_schema(s, depth + 1) for n, s in optional.items() if n not in required},
    )
    others = schema.get("additionalProperties", True)
    if others is False or depth >= OPTIONAL_DEPTH:
        return known
    extra = st.dictionaries(
        st.text(max_size=12).filter(lambda name: name not in properties),
        json_values if others is True else from_schema(others, depth + 1),
        max_size=2,
    )
    return st.builds(lambda fields, more: {**more, **fields}, known, extra)


def form_text(value: Any) -> str:
    """A form field as a JSON post's value reads (and as an HTML form sends it)."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


ENCODERS: dict[str, Callable[[Any], str]] = {
    JSON: json.dumps,
    FORM: lambda fields: urlencode({name: form_text(v) for name, v in fields.items()}),
    "application/yaml": yaml.safe_dump,
    "text/yaml": yaml.safe_dump,
}
# (method, path template) -> [(media type, encoded bodies the schema allows)]
SCHEMA_BODIES: dict[tuple[str, str], list[tuple[str, st.SearchStrategy[str]]]] = {
    (method.upper(), path): [
        (media, from_schema(content["schema"]).map(ENCODERS[media]))
        for media, content in operation["requestBody"]["content"].items()
        if media in ENCODERS
    ]
    for path, operations in OPENAPI["paths"].items()
    for method, operation in operations.items()
    if "requestBody" in operation
}


# (method, path template) -> a body its schema allows, and its media type
schema_requests = st.one_of(
    [
        st.tuples(st.just(route), strategy.map(lambda body, media=media: (body, media)))
        for route, media_types in SCHEMA_BODIES.items()
        for media, strategy in media_types
    ]
)


# A path each route takes, so that only a body of its schema decides the answer; and the
# routes whose schema says all that makes a body valid (not a scoring model's: its weights
# must sum to 100, ...).
PATHS = {
    "/v1/leads/{email}/feedback": "/v1/leads/jane@acme-corp.com/feedback",
    "/v1/models/{model_id}": "/v1/models/default",
    "/v1/models/{model_id}/rescore": "/v1/models/default/rescore",
}
FULLY_DESCRIBED = {
    ("POST", "/v1/events"),
    ("POST", "/v1/forms"),
    ("POST", "/v1/leads/{email}/feedback"),
    ("POST", "/v1/models/{model_id}/rescore"),
}
TAKEN_AS_IS = {("POST", "/v1/events"), ("POST", "/v1/forms")}  # no lead or job needed
REFUSALS = {400, 413, 415, 422}
SCHEMA_TRIED: list[int] = []


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
    print(
        f"\nfuzzed {len(TRIED)} requests over {len(ROUTES)} routes ({len(SCHEMA_TRIED)} bodies of "
        f"their schema): {faults} answered 5xx"
    )
    from leadscore.settings import settings

    settings.cache_clear()  # the next test must not see this module's queue


def empty_the_queue(api: Api) -> None:
    """moto's queue slows down as it fills (purging is allowed once a minute)."""
    while messages := api.sqs.receive_message(QueueUrl=api.queue_url, MaxNumberOfMessages=10).get(
        "Messages"
    ):
        entries = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
        ]
        api.sqs.delete_message_batch(QueueUrl=api.queue_url, Entries=entries)


def assert_no_fault(answer: Answer, request: tuple[Any, ...]) -> None:
    """No 5xx, and the answer is one the document lists for the route (a path of none: 404)."""
    TRIED.append(answer.status)
    assert answer.status < 500, (*request, answer.body)
    method, path = request[0], request[1]
    template = route_of(method, path)
    if template is None:
        assert answer.status == 404, (*request, answer.body)
        assert_problem(answer)
    else:
        assert_documented(answer, method, template)


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
    path = template.replace("{x}", segment)
    answer = api.call(method, path, body, headers=headers)
    assert_no_fault(answer, (method, path, body))


@settings(max_examples=SCHEMA_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=schema_requests, origin=st.sampled_from(["https://www.vendor.example", ""]))
def test_a_body_of_the_routes_schema_is_taken(
    api: Api, request: tuple[tuple[str, str], tuple[str, str]], origin: str
) -> None:
    (method, described), (body, content_type) = request
    path = PATHS.get(described, described)
    headers = {"x-api-key": "k", "content-type": content_type}
    if origin:
        headers["Origin"] = origin
    answer = api.call(method, path, body, headers=headers)
    assert_no_fault(answer, (method, path, body))
    SCHEMA_TRIED.append(answer.status)
    if (method, described) in FULLY_DESCRIBED:
        assert answer.status not in REFUSALS, (method, path, body, answer.body)
    if (method, described) in TAKEN_AS_IS:
        assert answer.status in (202, 303), (method, path, body, answer.body)
        if len(SCHEMA_TRIED) % 20 == 0:
            empty_the_queue(api)


# Every route that reads a model or a draft as YAML text, and how it is sent there.
DRAFT_READERS: list[tuple[str, str, Callable[[str], str], str]] = [
    ("POST", "/v1/models/default/validate", str, "application/yaml"),
    ("PUT", "/v1/models/default", str, "text/yaml"),
    (
        "POST",
        "/v1/models/default/try",
        lambda text: json.dumps({"document": text, "email": "a@b.io"}),
        JSON,
    ),
    ("POST", "/v1/models/default/preview", lambda text: json.dumps({"document": text}), JSON),
]


@settings(max_examples=YAML_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(DRAFT_READERS), text=yaml_drafts)
def test_no_yaml_text_causes_a_5xx(
    api: Api, route: tuple[str, str, Callable[[str], str], str], text: str
) -> None:
    method, path, encode, content_type = route
    answer = api.call(
        method, path, encode(text), headers={"x-api-key": "k", "content-type": content_type}
    )
    assert_no_fault(answer, (method, path, text))
