"""The request bodies of the OpenAPI document agree with what the routes take."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, get_args
from urllib.parse import parse_qsl

import pytest
from jsonschema import Draft202012Validator
from leadscore.api import bodies
from leadscore.api.forms import CONTEXT_FIELDS, PROFILE_FIELDS
from leadscore.api.openapi import WITH_BODY
from openapi_spec_validator import validate

from tests.conftest import ROOT
from tests.integration.api_client import Api, make_api

OPENAPI: dict[str, Any] = json.loads((ROOT / "functions" / "api" / "openapi.json").read_text())
SCHEMAS = OPENAPI["components"]["schemas"]
SAMPLES = sorted((ROOT / "events").glob("api_*.json"))


def body_validator(method: str, path: str, media_type: str) -> Draft202012Validator:
    """A JSON Schema validator for a route's body, its `$ref`s resolved in the document."""
    content = OPENAPI["paths"][path][method.lower()]["requestBody"]["content"]
    schema = content[media_type]["schema"]
    return Draft202012Validator(
        {**schema, "components": OPENAPI["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def route_of(method: str, concrete: str) -> str:
    """The document's path template that a concrete path matches."""
    for template, operations in OPENAPI["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if method.lower() in operations and re.fullmatch(pattern, concrete):
            return template
    raise LookupError(f"{method} {concrete} is not in the document")


def decoded(body: str, media_type: str) -> Any:
    if media_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body, keep_blank_values=True))
    # text/plain: the tracking snippet's beacon, JSON sent without a CORS preflight
    return json.loads(body) if media_type in ("application/json", "text/plain") else body


def test_the_document_is_valid_openapi() -> None:
    validate(OPENAPI)


def test_every_route_that_takes_a_body_describes_it() -> None:
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            assert ("requestBody" in operation) == (method in WITH_BODY), (method, path)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_each_sample_body_validates_against_its_routes_schema(sample: Any) -> None:
    event = json.loads(sample.read_text(encoding="utf-8"))
    if not event.get("body"):
        return
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    media_type = headers.get("content-type", "application/json").split(";")[0].strip()
    path = route_of(event["httpMethod"], event["path"])
    content = OPENAPI["paths"][path][event["httpMethod"].lower()]["requestBody"]["content"]
    if "*/*" in content:  # a provider's native request: any content
        assert content["*/*"]["schema"] == {}
        return
    validator = body_validator(event["httpMethod"], path, media_type)
    errors = [error.message for error in validator.iter_errors(decoded(event["body"], media_type))]
    assert not errors, (sample.name, errors)


def test_the_models_name_what_the_routes_read() -> None:
    assert SCHEMAS["Feedback"]["properties"]["outcome"]["enum"] == list(get_args(bodies.Outcome))
    known = set(SCHEMAS["FormSubmission"]["properties"])
    assert PROFILE_FIELDS | CONTEXT_FIELDS | {"email", "_gotcha", "_redirect"} <= known


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    yield make_api(monkeypatch, LEADSCORE_API_KEY="k")


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# A body the schema refuses, and the field the route names in its 422 problem.
REFUSED = [
    (
        "POST",
        "/v1/events",
        JSON,
        [{"email": "a@acme.com", "type": "x"}, {"type": "x"}],
        "[1].email",
    ),
    ("POST", "/v1/events", JSON, {"email": "a@acme.com", "type": " "}, "type"),
    ("POST", "/v1/events", JSON, {"email": "a@acme", "type": "x"}, "email"),
    ("POST", "/v1/events", JSON, {"email": "a@acme.com", "type": "x", "profile": []}, "profile"),
    ("POST", "/v1/forms", JSON, {"email": "a@acme.com", "company": {"name": "Acme"}}, "company"),
    ("POST", "/v1/forms", FORM, "email=jane&company=Acme", "email"),
    ("POST", "/v1/leads/a@acme.com/feedback", JSON, {"outcome": "maybe"}, "outcome"),
    ("POST", "/v1/leads/a@acme.com/feedback", JSON, {"outcome": "won", "note": "x" * 2001}, "note"),
    ("PUT", "/v1/models/default", JSON, {"id": "Default!", "name": "x"}, "id"),
    ("POST", "/v1/models/default/rescore", JSON, {"dry_run": "yes"}, "dry_run"),
    ("POST", "/v1/models/default/rescore", JSON, {"fast": True}, "fast"),
]


@pytest.mark.parametrize(("method", "path", "media_type", "body", "field"), REFUSED)
def test_what_the_schema_refuses_the_route_refuses_at_the_same_field(
    api: Api, method: str, path: str, media_type: str, body: Any, field: str
) -> None:
    validator = body_validator(method, route_of(method, path), media_type)
    assert not validator.is_valid(body if media_type == JSON else decoded(body, media_type))
    text = body if isinstance(body, str) else json.dumps(body)
    answer = api.call(method, path, text, headers={"x-api-key": "k", "content-type": media_type})
    assert answer.status == 422, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert field in [error["field"] for error in answer.json()["errors"]], answer.body


LONE = '"\\ud800"'  # an escaped unpaired surrogate: valid JSON syntax, no text (RFC 7493)


@pytest.mark.parametrize(
    ("method", "path", "media_type", "body"),
    [
        ("POST", "/v1/events", JSON, '{"email": "a@acme.com", "type": "x", "product": %s}'),
        ("POST", "/v1/events", JSON, '[{"email": "a@acme.com", "type": "x", "profile": {%s: 1}}]'),
        ("POST", "/v1/forms", JSON, '{"email": "a@acme.com", "company": %s}'),
        ("POST", "/v1/leads/a@acme.com/feedback", JSON, '{"outcome": "won", "note": %s}'),
        ("PUT", "/v1/models/default", JSON, '{"id": "default", "name": %s}'),
        ("POST", "/v1/models/default/rescore", JSON, '{"dry_run": true, "x": %s}'),
    ],
)
def test_an_unpaired_surrogate_is_a_bad_request_not_a_fault(
    api: Api, method: str, path: str, media_type: str, body: str
) -> None:
    headers = {"x-api-key": "k", "content-type": media_type}
    for text in (body % LONE, (body % '"X"').encode().replace(b"X", b"\xed\xa0\x80")):
        answer = api.call(method, path, text, headers=headers)
        assert answer.status == 400, answer.body
        assert (
            answer.json()["detail"] == "the body is not valid JSON: it holds an unpaired surrogate"
        )


def test_a_surrogate_pair_is_text(api: Api) -> None:
    body = '{"email": "a@acme.com", "type": "x", "product": "\\ud83d\\ude80"}'
    answer = api.call("POST", "/v1/events", body, headers={"x-api-key": "k", "content-type": JSON})
    assert answer.status == 202
    [event] = api.queued_events()
    assert event["product"] == "\N{ROCKET}"


def test_a_webhook_event_with_an_unpaired_surrogate_is_dropped(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its platform's request is answered as usual; the event could be queued by no one."""
    import base64

    from leadscore.adapters.webhooks import env_name

    basic = "crm-hooks:correct horse battery"
    api = make_api(monkeypatch, **{env_name("basic:postmark"): basic})
    click = json.loads((ROOT / "tests" / "fixtures" / "webhooks" / "postmark.json").read_text())
    headers = {
        "Content-Type": JSON,
        "Authorization": "Basic " + base64.b64encode(basic.encode()).decode(),
    }
    body = json.dumps({**click, "Recipient": "\ud800@johnson.test"})
    assert api.call("POST", "/v1/webhooks/postmark", body, headers=headers).status == 200
    assert api.queued_events() == []
    assert (
        api.call("POST", "/v1/webhooks/postmark", json.dumps(click), headers=headers).status == 200
    )
    assert len(api.queued_events()) == 1
