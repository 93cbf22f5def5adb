"""The answers of the OpenAPI document are the API's: each status a route answers is listed for
it, with the media type and a schema its body matches; errors are all problem+json."""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
import yaml
from jsonschema import Draft202012Validator
from leadscore.adapters import model_store
from leadscore.adapters.dynamo_rescore_jobs import DynamoRescoreJobs
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.adapters.rescore_queue import SqsRescoreQueue
from leadscore.adapters.webhooks import env_name
from leadscore.adapters.webhooks.payload import MAX_BODY_BYTES as WEBHOOK_BYTES
from leadscore.api import bodies
from leadscore.services import rescore
from leadscore.services.scoring import score_messages
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, LambdaContext, Recorder
from tests.integration.api_client import Answer, Api, make_api, proxy_event
from tests.integration.test_webhook_replay_api import KEY as MAILGUN_KEY
from tests.integration.test_webhook_replay_api import delivery

OPENAPI: dict[str, Any] = json.loads((ROOT / "functions" / "api" / "openapi.json").read_text())
PROBLEM = "application/problem+json"


def strict(schema: Any) -> Any:
    """The schema with every object closed: an answer may hold no key the document omits."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {name: strict(value) for name, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema:
        closed["additionalProperties"] = False
    return closed


COMPONENTS = strict(OPENAPI["components"])


TEMPLATES = [
    (re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))), method, template)
    for template, operations in OPENAPI["paths"].items()
    for method in operations
]


def route_of(method: str, concrete: str) -> str | None:
    """The document's path template that a concrete path matches, if any."""
    wanted = method.lower()
    for pattern, listed, template in TEMPLATES:
        if listed == wanted and pattern.fullmatch(concrete):
            return template
    return None


@functools.cache
def documented(method: str, template: str, status: int) -> tuple[str | None, Any]:
    """A documented answer's media type (None: no body) and a validator of its body."""
    listed = OPENAPI["paths"][template][method.lower()]["responses"]
    assert str(status) in listed, f"{method} {template} answered {status}: not in {list(listed)}"
    content = listed[str(status)].get("content")
    if not content:
        return None, None
    [(media_type, described)] = content.items()
    validator = Draft202012Validator(
        {**described["schema"], "components": COMPONENTS},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    return media_type, validator


def assert_documented(answer: Answer, method: str, template: str) -> None:
    """The answer's status is listed for the route, and its body is of the listed schema."""
    media_type, validator = documented(method, template, answer.status)
    where = (method, template, answer.status, answer.body[:300])
    if media_type is None:
        assert answer.body == "", where
        return
    assert answer.headers["Content-Type"].split(";")[0] == media_type, where
    if media_type in ("application/json", PROBLEM):
        body = answer.json()
        errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, (*where, errors)
        if media_type == PROBLEM:
            assert body["status"] == answer.status, where


PROBLEM_SCHEMA = Draft202012Validator(
    {"$ref": "#/components/schemas/ProblemDetails", "components": COMPONENTS}
)


def assert_problem(answer: Answer) -> None:
    """A refusal of a path no route has: problem+json all the same."""
    assert answer.headers["Content-Type"] == PROBLEM, answer.body
    body = answer.json()
    assert PROBLEM_SCHEMA.is_valid(body) and body["status"] == answer.status, answer.body


# ---------------------------------------------------------------- the document itself


def test_no_answer_is_powertools_validation_error() -> None:
    text = json.dumps(OPENAPI)
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        assert name not in OPENAPI["components"]["schemas"] and f"/{name}" not in text


def test_every_route_documents_a_success_and_its_refusals_as_problems() -> None:
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            statuses = sorted(int(status) for status in operation["responses"])
            assert 200 <= statuses[0] < 400, (method, path)
            assert {429, 500} <= set(statuses), (method, path)
            for status in statuses:
                content = operation["responses"][str(status)].get("content")
                if status >= 400:
                    assert content == {
                        PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
                    }


def test_the_answers_name_what_the_code_answers() -> None:
    recorded = OPENAPI["components"]["schemas"]["FeedbackRecorded"]["properties"]["outcome"]
    assert recorded["enum"] == list(get_args(bodies.Outcome))


# ---------------------------------------------------------------- the handler's answers

KEY = {"x-api-key": "k"}
JSON = {**KEY, "content-type": "application/json"}
ORIGIN = "https://www.vendor.example"
BASIC = "crm-hooks:correct horse battery"
AUTH = {"Authorization": "Basic " + base64.b64encode(BASIC.encode()).decode()}
EMAIL = "grace@corp.io"
PROFILE = {
    "first_name": "Grace",
    "company": "Corp",
    "industry": "software",
    "company_size": "201-500",
    "country": "United States",
    "job_title": "VP Engineering",
}
# Statuses documented but not driven here, and why.
NOT_DRIVEN = {
    429: "API Gateway's throttles and quota (deployed only)",
    403: "a key without the route's scope: test_api_scopes.py drives it on every keyed route",
    500: "a fault of ours: driven once, on GET /v1/models",
}
NOT_DRIVEN_ON = {
    ("post", "/v1/leads/{email}/feedback", 409): "the profile updated at the same moment",
    ("put", "/v1/models/{model_id}", 409): "another version published at the same moment",
    ("delete", "/v1/leads/{email}", 503): "an account kept busy through 10 attempts",
}


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    api = make_api(
        monkeypatch,
        LEADSCORE_API_KEY="k",
        LEADSCORE_CORS_ORIGINS=ORIGIN,
        MODEL_CACHE_SECONDS="0",
        **{
            env_name("basic:postmark"): BASIC,
            env_name("basic:ses"): BASIC,
            env_name("mailgun"): MAILGUN_KEY,
        },
    )
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), datetime.now(UTC))
    yield api


class Client:
    """Calls the handler, checks each answer against the document and keeps what it saw."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.seen: set[tuple[str, str, int]] = set()

    def call(self, status: int, method: str, path: str, body: Any = None, **headers: str) -> Answer:
        text = body if body is None or isinstance(body, str | bytes) else json.dumps(body)
        answer = self.api.call(method, path, text, headers=headers)
        assert answer.status == status, (method, path, answer.body[:300])
        return self.checked(answer, method, path)

    def call_base64(self, status: int, method: str, path: str, body: str, **headers: str) -> Answer:
        """A request whose body API Gateway says is base64, as it is given."""
        event = proxy_event(method, path, body, headers=headers)
        event["isBase64Encoded"] = True
        raw = self.api.module.lambda_handler(event, LambdaContext())
        given = {
            **raw.get("headers", {}),
            **{name: values[-1] for name, values in (raw.get("multiValueHeaders") or {}).items()},
        }
        answer = Answer(raw["statusCode"], given, raw.get("body") or "")
        assert answer.status == status, (method, path, answer.body[:300])
        return self.checked(answer, method, path)

    def checked(self, answer: Answer, method: str, path: str) -> Answer:
        template = route_of(method, path)
        assert template is not None, (method, path)
        assert_documented(answer, method, template)
        self.seen.add((method.lower(), template, answer.status))
        return answer

    def assert_every_answer_given(self, *paths: str) -> None:
        """Each status the document lists for these paths was answered (but NOT_DRIVEN)."""
        listed = {
            (method, path, int(status))
            for path in paths
            for method, operation in OPENAPI["paths"][path].items()
            for status in operation["responses"]
            if int(status) not in NOT_DRIVEN and (method, path, int(status)) not in NOT_DRIVEN_ON
        }
        assert sorted(listed - self.seen) == []


@pytest.fixture
def client(api: Api) -> Client:
    return Client(api)


def score_queue(api: Api) -> None:
    messages = [(m["MessageId"], m["Body"]) for m in api.queued()]
    models = model_store.CachedModels(ttl=0)
    assert not score_messages(messages, DynamoLeadStore(), models, Recorder()).failed


def test_events_forms_and_webhooks(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    call = client.call
    call(200, "GET", "/v1/health")
    event = {"email": EMAIL, "type": "page_view", "properties": {"url": "/pricing"}}
    call(401, "POST", "/v1/events", event)
    assert client.api.queued() == []
    call(202, "POST", "/v1/events", [event, {**event, "id": "e1"}], **JSON)
    call(400, "POST", "/v1/events", "[{", **JSON)
    call(400, "POST", "/v1/events", '"\\ud800"', **JSON)
    client.call_base64(400, "POST", "/v1/events", "not base64!", **JSON)
    call(413, "POST", "/v1/events", [event] * 501, **JSON)
    call(413, "POST", "/v1/events", "x" * 1_000_001, **JSON)
    invalid = call(422, "POST", "/v1/events", [event, {"type": "x"}], **JSON)
    assert invalid.json()["errors"][0]["field"] == "[1].email"

    form = {"email": EMAIL, "form": "demo-request", **PROFILE}
    taken = call(202, "POST", "/v1/forms", form, Origin=ORIGIN)
    assert taken.headers["Access-Control-Allow-Origin"] == ORIGIN
    html = {"content-type": "application/x-www-form-urlencoded", "Origin": ORIGIN}
    redirect = f"email={EMAIL}&_redirect={ORIGIN}/thanks"
    assert (
        call(303, "POST", "/v1/forms", redirect, **html).headers["Location"] == f"{ORIGIN}/thanks"
    )
    call(202, "POST", "/v1/forms", f"email={EMAIL}&_gotcha=1", **html)
    call(400, "POST", "/v1/forms", b"email=\xff", **html)
    call(400, "POST", "/v1/forms", "{", Origin=ORIGIN)
    call(413, "POST", "/v1/forms", "x" * 64_001)
    call(415, "POST", "/v1/forms", "email", **{"content-type": "text/plain"})
    call(422, "POST", "/v1/forms", {"company": "Acme"})
    call(422, "POST", "/v1/forms", "email=jane", **html)
    call(204, "OPTIONS", "/v1/forms", Origin=ORIGIN)
    call(403, "OPTIONS", "/v1/forms", Origin="https://evil.example")

    postmark = (ROOT / "tests" / "fixtures" / "webhooks" / "postmark.json").read_text()
    call(200, "POST", "/v1/webhooks/postmark", postmark, **AUTH)
    wrong = {"Authorization": "Basic " + base64.b64encode(b"crm-hooks:nope").decode()}
    client.api.queued()  # what was taken so far
    assert call(401, "POST", "/v1/webhooks/postmark", postmark, **wrong).headers["WWW-Authenticate"]
    assert client.api.queued() == []
    call(400, "POST", "/v1/webhooks/postmark", "[[[", **AUTH)
    call(404, "POST", "/v1/webhooks/nosuch", "{}", **AUTH)
    call(413, "POST", "/v1/webhooks/postmark", "x" * (WEBHOOK_BYTES + 1), **AUTH)
    for method in ("GET", "HEAD"):
        call(200, method, "/v1/webhooks/mailchimp")
        client.call_base64(400, method, "/v1/webhooks/mailchimp", "not base64!")
        call(404, method, "/v1/webhooks/nosuch")
        call(413, method, "/v1/webhooks/mailchimp", "x" * (WEBHOOK_BYTES + 2))
    call(400, "GET", "/v1/webhooks/postmark")  # postmark does not probe with GET
    # A Mailgun signature block is taken once: a replay is refused, and Mailgun stops there.
    mailgun = delivery("opened", "mg-1", datetime.now(UTC))
    call(200, "POST", "/v1/webhooks/mailgun", mailgun, **{"content-type": "application/json"})
    call(406, "POST", "/v1/webhooks/mailgun", mailgun, **{"content-type": "application/json"})

    # Amazon SNS (SES events) asks to confirm a subscription; its URL cannot be reached.
    from leadscore.api import public

    def unreachable(url: str, limit: int = 0) -> bytes:
        raise ValueError("unreachable")

    monkeypatch.setattr(public, "https_get", unreachable)
    monkeypatch.setattr(client.api.module.deps, "confirm_subscription", public.confirm_subscription)
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m-1",
        "Token": "t1",
        "TopicArn": "arn:aws:sns:eu-west-1:111122223333:ses-events",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t1",
        "Timestamp": "2026-01-01T12:00:00.000Z",
    }
    call(502, "POST", "/v1/webhooks/ses", json.dumps(confirmation), **AUTH)
    client.assert_every_answer_given(
        "/v1/health", "/v1/events", "/v1/forms", "/v1/webhooks/{provider}"
    )


def test_leads_accounts_and_feedback(client: Client) -> None:
    call = client.call
    call(202, "POST", "/v1/forms", {"email": EMAIL, "form": "demo-request", **PROFILE})
    events = [
        {"email": EMAIL, "type": "page_view", "properties": {"url": "/pricing"}, "id": f"p{n}"}
        for n in range(3)
    ] + [{"email": EMAIL, "type": "webinar_attended", "id": "w1"}]
    call(202, "POST", "/v1/events", events, **JSON)
    score_queue(client.api)

    lead = call(200, "GET", "/v1/leads/grace%40corp.io", **KEY).json()
    assert lead["scores"] and lead["scores"][0]["reasons"]
    history = call(200, "GET", f"/v1/leads/{EMAIL}/history", **KEY).json()
    assert history["history"][0]["changes"]
    for path in (f"/v1/leads/{EMAIL}", f"/v1/leads/{EMAIL}/history"):
        call(401, "GET", path)
        call(404, "GET", path.replace("grace", "nobody"), **KEY)
        call(422, "GET", path.replace(EMAIL, "not-an-email"), **KEY)

    feedback = f"/v1/leads/{EMAIL}/feedback"
    call(202, "POST", feedback, {"outcome": "won", "note": "signed"}, **JSON)
    call(400, "POST", feedback, "{", **JSON)
    call(401, "POST", feedback, {"outcome": "won"})
    call(404, "POST", "/v1/leads/nobody@corp.io/feedback", {"outcome": "won"}, **JSON)
    call(413, "POST", feedback, {"note": "x" * 10_000}, **JSON)
    call(422, "POST", feedback, {"outcome": "maybe"}, **JSON)
    assert call(200, "GET", f"/v1/leads/{EMAIL}", **KEY).json()["feedback"] == "won"

    account = call(200, "GET", "/v1/accounts/corp.io", **KEY).json()
    assert account["scores"][0]["people"][0]["email"] == EMAIL
    call(401, "GET", "/v1/accounts/corp.io")
    call(404, "GET", "/v1/accounts/gmail.com", **KEY)
    call(422, "GET", "/v1/accounts/a%20b", **KEY)

    call(401, "DELETE", f"/v1/leads/{EMAIL}")
    call(422, "DELETE", "/v1/leads/not-an-email", **KEY)
    # A character the router does not take in a path segment: no such route, whatever follows.
    call(404, "DELETE", '/v1/leads/a"b@corp.io', **KEY)
    call(204, "DELETE", f"/v1/leads/{EMAIL}", **KEY)
    call(404, "GET", f"/v1/leads/{EMAIL}", **KEY)
    client.assert_every_answer_given(
        "/v1/leads/{email}",
        "/v1/leads/{email}/history",
        "/v1/leads/{email}/feedback",
        "/v1/accounts/{domain}",
    )


def test_models_and_rescoring(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    call = client.call
    call(202, "POST", "/v1/forms", {"email": EMAIL, **PROFILE})
    score_queue(client.api)
    listed = call(200, "GET", "/v1/models", **KEY).json()
    assert [model["id"] for model in listed["models"]] == ["default"]
    call(401, "GET", "/v1/models")
    model = call(200, "GET", "/v1/models/default", **KEY).json()
    call(401, "GET", "/v1/models/default")
    call(404, "GET", "/v1/models/nope", **KEY)

    model.pop("version", None)
    role = model["fit"]["categories"][0]
    role["criteria"][0]["points"] = 50  # executives fit less: rescoring changes them
    published = call(200, "PUT", "/v1/models/default", model, **JSON)
    assert published.headers["Location"] == "/v1/models/default"
    call(400, "PUT", "/v1/models/default", "{", **JSON)
    call(401, "PUT", "/v1/models/default", model)
    call(404, "PUT", "/v1/models/a\\b", model, **JSON)
    call(413, "PUT", "/v1/models/default", "x" * 400_001, **JSON)
    call(422, "PUT", "/v1/models/other", model, **JSON)
    call(422, "PUT", "/v1/models/default", {**model, "fit": 3}, **JSON)
    as_yaml = {**KEY, "content-type": "application/yaml"}  # the editor's text, as validate reads it
    call(200, "PUT", "/v1/models/default", yaml.safe_dump(model), **as_yaml)
    refused = call(422, "PUT", "/v1/models/default", "id: default\n  fit: 3\n", **as_yaml).json()
    assert [(e["line"], e["column"]) for e in refused["errors"]] == [(2, 6)]

    rescoring = "/v1/models/default/rescore"
    call(400, "POST", rescoring, "{", **JSON)
    call(401, "POST", rescoring)
    call(404, "POST", "/v1/models/nope/rescore", **JSON)
    call(413, "POST", rescoring, "x" * 10_001, **JSON)
    call(422, "POST", rescoring, {"dry_run": "yes"}, **JSON)
    started = call(202, "POST", rescoring, {"dry_run": True}, **JSON)
    job = started.json()
    assert started.headers["Location"] == job["progress_url"]
    call(409, "POST", rescoring, **JSON)
    assert call(200, "GET", job["progress_url"], **KEY).json()["status"] == "queued"
    run_rescore_jobs(client.api)
    done = call(200, "GET", job["progress_url"], **KEY).json()
    assert done["status"] == "completed" and done["leads_done"] == 1 and done["sample"]
    call(401, "GET", job["progress_url"])
    call(404, "GET", f"{rescoring}/nope", **KEY)

    from leadscore.settings import settings

    monkeypatch.delenv("RESCORE_QUEUE_URL")
    settings.cache_clear()
    call(503, "POST", rescoring, **JSON)
    settings.cache_clear()

    def unavailable() -> list[Any]:
        raise RuntimeError("DynamoDB is unavailable")

    monkeypatch.setattr(model_store, "catalog", unavailable)
    assert "DynamoDB" not in call(500, "GET", "/v1/models", **KEY).body
    client.assert_every_answer_given(
        "/v1/models",
        "/v1/models/{model_id}",
        "/v1/models/{model_id}/rescore",
        "/v1/models/{model_id}/rescore/{job_id}",
    )
    assert ("get", "/v1/models", 500) in client.seen


def run_rescore_jobs(api: Api) -> None:
    """The rescore worker's part: every message of the rescore queue, handled."""
    queue_url = api.sqs.get_queue_url(QueueName="rescore")["QueueUrl"]
    rescorer = rescore.Rescorer(
        SqsRescoreQueue(api.sqs, queue_url),
        Recorder(),
        DynamoRescoreJobs(),
        DynamoLeadStore(),
        model_store.DynamoModelCatalog(),
        clock=lambda: datetime.now(UTC),
    )
    while batch := api.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in batch:
            rescorer.handle(message["Body"])
            api.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
