"""Hostile input at the API's edge: what an attacker or a noisy integration sends is refused
with a 4xx naming the field, or taken whole; never accepted to fail later in the scorer.

Sizes an event may have (ids, names, properties, profiles), strict JSON in and out, form
fields parsed in linear time, and the forms' honeypot. The routes run in-process on the
in-memory lead store, with a queue that keeps what it is sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.api.app import build
from leadscore.api.deps import Dependencies
from leadscore.api.forms import company_size
from leadscore.domain.emails import lead_key
from leadscore.domain.events import (
    MAX_PROFILE_FIELDS,
    MAX_PROFILE_VALUE_BYTES,
    MAX_PROPERTIES_BYTES,
    Event,
    EventError,
    canonical_event,
    stored_size,
)
from leadscore.domain.messages import QueueMessageError, decode
from leadscore.services.store import LeadWrite, ProfileRecord

from tests.conftest import LambdaContext
from tests.integration.api_client import Answer, proxy_event
from tests.unit.scoring_helpers import FixedModels

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
TYPEFORM_SECRET = "typeform-signing-secret"
SENDGRID_BASIC = "sendgrid-user:sendgrid-pass"
DYNAMODB_ITEM_BYTES = 400 * 1024


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} in an answer")


def strict(body: str) -> Any:
    """The body as a browser or Node reads JSON: NaN and Infinity are no JSON."""
    return json.loads(body, parse_constant=_refuse)


class KeptQueue:
    """The scoring queue: what the API sends it, kept."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Event]] = []

    def send(self, entries: list[tuple[str, Event]], received_at: datetime) -> int:
        self.sent += [(entry[0], entry[1]) for entry in entries]  # (email, event) of each
        return len(entries)


class Api:
    def __init__(self) -> None:
        self.queue = KeptQueue()
        self.store = MemoryLeadStore()
        deps = Dependencies(
            queue=self.queue,
            secrets={"typeform": TYPEFORM_SECRET, "basic:sendgrid": SENDGRID_BASIC},
            store=self.store,
            models=FixedModels(),
            clock=lambda: NOW,
            api_key="k",
        )
        self.app: APIGatewayRestResolver = build(deps)

    def call(
        self, method: str, path: str, body: str | bytes | None = None, **headers: str
    ) -> Answer:
        headers = {"x-api-key": "k", **headers}
        answer = self.app.resolve(proxy_event(method, path, body, headers), LambdaContext())
        found = dict(answer.get("headers") or {})
        found |= {
            name: values[-1] for name, values in (answer.get("multiValueHeaders") or {}).items()
        }
        return Answer(answer["statusCode"], found, answer["body"])

    def events(self, body: Any) -> Answer:
        return self.call("POST", "/v1/events", json.dumps(body), **JSON)


@pytest.fixture
def api() -> Iterator[Api]:
    yield Api()


def event(**fields: Any) -> dict[str, Any]:
    return {"email": "ada@acme-corp.com", "type": "page_view", **fields}


def refused(answer: Answer, status: int = 422) -> list[dict[str, str]]:
    """The problem's errors, after checking the answer is that problem in strict JSON."""
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    problem = strict(answer.body)
    assert problem["status"] == status
    errors: list[dict[str, str]] = problem.get("errors", [])
    return errors


# --- limits at the edge: POST /v1/events -----------------------------------------------------


def test_an_id_past_the_tables_sort_key_limit_is_refused_at_its_path(api: Api) -> None:
    answer = api.events([event(id="ok-1"), event(id="x" * 1_100)])
    assert [e["field"] for e in refused(answer)] == ["[1].id"]
    assert api.queue.sent == []  # nothing of the request is taken


def test_an_id_is_at_most_256_bytes_of_utf8(api: Api) -> None:
    assert api.events(event(id="a" * 256)).status == 202
    assert [e["field"] for e in refused(api.events(event(id="a" * 257)))] == ["id"]
    # 200 characters, 800 bytes: `EV#` + 256 four-byte characters would pass 1,024 bytes.
    assert [e["field"] for e in refused(api.events(event(id="\U0001f600" * 200)))] == ["id"]


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"type": "t" * 65}, "type"),
        ({"product": "p" * 65}, "product"),
        ({"properties": {f"k{n}": n for n in range(51)}}, "properties"),
        ({"properties": {"n" * 65: 1}}, "properties"),
        ({"properties": {"url": "https://x.example/" + "a" * 4_096}}, "properties.url"),
        ({"properties": {"a": {"b": ["ok", "x" * 4_097]}}}, "properties.a.b[1]"),
        ({"properties": {f"p{n}": "v" * 4_000 for n in range(9)}}, "properties"),
        ({"profile": {f"f{n}": "v" for n in range(65)}}, "profile"),
        ({"profile": {"n" * 65: "v"}}, "profile"),
        ({"profile": {"company": "c" * 1_001}}, "profile.company"),
        ({"profile": {"company": "\u4e2d" * 400}}, "profile.company"),  # 2,402 bytes escaped
        ({"profile": {"address": {"city": "Berlin"}}}, "profile.address"),
        ({"profile": {"tags": ["t"] * 21}}, "profile.tags"),
        ({"profile": {f"f{n}": "v" * 900 for n in range(40)}}, "profile"),
    ],
)
def test_an_event_past_a_limit_is_refused_naming_the_field(
    api: Api, fields: dict[str, Any], path: str
) -> None:
    errors = refused(api.events([event(id="ok"), event(**fields)]))
    assert len(errors) == 1
    assert errors[0]["field"].startswith(f"[1].{path}"), errors
    assert api.queue.sent == []


def test_properties_nested_past_the_depth_limit_are_refused(api: Api) -> None:
    nested: Any = "deep"
    for _ in range(40):
        nested = {"n": nested}
    [error] = refused(api.events(event(properties={"a": nested})))
    assert error["field"].startswith("properties.a.n.n")
    assert error["message"] == "nested more than 16 levels"


def test_an_event_at_every_limit_is_taken(api: Api) -> None:
    document = event(
        id="i" * 256,
        type="t" * 64,
        product="p" * 64,
        properties={"url": "u" * 4_096, **{f"k{n}": n for n in range(49)}},
        profile={
            "company": "c" * 1_000,
            "tags": ["a", "b", 3, True, None],
            "company_size": 1e15,
            **{f"f{n}": "v" for n in range(61)},  # 64 fields in all
        },
    )
    answer = api.events(document)
    assert answer.status == 202, answer.body
    [(_, taken)] = api.queue.sent
    assert taken.id == "i" * 256 and dict(taken.profile or {})["company"] == "c" * 1_000


def test_a_leads_profile_at_the_limits_stays_far_below_dynamodbs_item_limit() -> None:
    """The scorer keeps up to 64 fields per lead, each the largest value the limits let in,
    named with the longest name of the costliest characters, with its time beside it."""
    name = "\U0001f600" * 64
    value = "\U0001f600" * ((MAX_PROFILE_VALUE_BYTES - 2) // 12)  # escaped: 12 bytes each
    canonical_event(event(profile={name: value}), NOW)  # one such field is let in
    profile = {f"{name[:-2]}{n:02}": value for n in range(MAX_PROFILE_FIELDS)}
    times = dict.fromkeys(profile, 1_800_000_000)
    assert stored_size(profile) + stored_size(times) < DYNAMODB_ITEM_BYTES * 0.6


def test_the_scorer_refuses_an_over_limit_event_in_a_queue_message_naming_it() -> None:
    """Messages queued before the limits, or by hand: the record fails with a readable reason."""
    body = json.dumps({"v": 1, "received_at": 1_790_000_000, "events": [event(id="x" * 1_100)]})
    with pytest.raises(QueueMessageError, match=r"events\[0\]\.id"):
        decode(body)


def test_events_stored_under_earlier_limits_still_read() -> None:
    """Only the ways in check the limits; the table's reader does not, so a lead's log from
    before them replays whole."""
    from leadscore.domain.events import event_from_dict

    stored = event(id="legacy", product="p" * 200, properties={f"k{n}": n for n in range(60)})
    assert event_from_dict(stored, NOW).product == "p" * 200
    with pytest.raises(EventError):
        canonical_event(stored, NOW)


# --- limits at the edge: forms and webhooks --------------------------------------------------


def test_a_form_clips_its_values_to_the_domains_limits_instead_of_refusing(api: Api) -> None:
    fields = {
        "email": "ada@acme-corp.com",
        "company": "\u4e2d" * 1_000,  # 1,000 characters, 6,002 bytes as the table stores it
        "product": "p" * 200,
        "form": "demo",
    }
    answer = api.call("POST", "/v1/forms", urlencode(fields), **FORM)
    assert answer.status == 202, answer.body
    [(_, taken)] = api.queue.sent
    company = dict(taken.profile or {})["company"]
    assert set(company) == {"\u4e2d"} and stored_size(company) <= MAX_PROFILE_VALUE_BYTES
    assert taken.product == "p" * 64


def test_a_form_keeps_the_context_and_custom_fields_that_fit_and_drops_the_rest(
    api: Api,
) -> None:
    fields = {
        "email": "ada@acme-corp.com",
        **{f"question_{n}": "\u4e2d" * 1_000 for n in range(5)},  # 6 KB each as stored
        **{f"utm_{n}": "u" * 900 for n in range(40)},
        "page_url": "https://www.vendor.example/demo",
    }
    body = json.dumps(fields, ensure_ascii=False)
    assert api.call("POST", "/v1/forms", body, **JSON).status == 202
    [(_, taken)] = api.queue.sent
    properties = dict(taken.properties)
    assert stored_size(properties) <= MAX_PROPERTIES_BYTES
    assert properties["page_url"] == "https://www.vendor.example/demo"  # context first
    assert 30 <= sum(name.startswith("utm_") for name in properties) < 40
    assert properties["form"] == "unknown"


def typeform(utm_campaign: Any, company: str = "Acme") -> tuple[bytes, dict[str, str]]:
    document = {
        "event_id": "01HTYPEFORM",
        "event_type": "form_response",
        "form_response": {
            "form_id": "lT4Z3j",
            "submitted_at": "2026-03-02T09:00:00Z",
            "hidden": {"email": "ada@acme-corp.com", "utm_campaign": utm_campaign},
            "definition": {"title": "Demo request", "fields": [{"id": "f1", "title": "Company"}]},
            "answers": [{"type": "text", "text": company, "field": {"id": "f1"}}],
        },
    }
    body = json.dumps(document).encode()
    digest = hmac.new(TYPEFORM_SECRET.encode(), body, hashlib.sha256).digest()
    return body, {"Typeform-Signature": "sha256=" + base64.b64encode(digest).decode()}


def test_a_webhook_event_past_a_limit_is_skipped_and_logged_without_personal_data(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    body, headers = typeform("c" * 5_000)
    answer = api.call("POST", "/v1/webhooks/typeform", body, **headers)
    assert answer.status == 200  # the platform is answered as usual: a retry would not fit either
    assert api.queue.sent == []  # refused whole, not stored in part
    [record] = [r for r in caplog.records if r.getMessage() == "webhook event skipped"]
    logged = {name: getattr(record, name) for name in ("provider", "field", "reason")}
    assert logged == {
        "provider": "typeform",
        "field": "properties",
        "reason": "at most 4,096 characters",
    }
    body, headers = typeform("spring-launch")  # within the limits: taken
    assert api.call("POST", "/v1/webhooks/typeform", body, **headers).status == 200
    assert len(api.queue.sent) == 1


def test_a_form_platforms_answer_is_clipped_to_fit_the_profile(api: Api) -> None:
    body, headers = typeform("spring-launch", company="\U0001f600" * 200)  # 2,402 bytes
    assert api.call("POST", "/v1/webhooks/typeform", body, **headers).status == 200
    [(_, taken)] = api.queue.sent
    company = dict(taken.profile or {})["company"]
    assert set(company) == {"\U0001f600"} and stored_size(company) <= MAX_PROFILE_VALUE_BYTES


def sendgrid(events: list[dict[str, Any]], raw: str | None = None) -> tuple[str, dict[str, str]]:
    basic = base64.b64encode(SENDGRID_BASIC.encode()).decode()
    return raw or json.dumps(events), {**JSON, "Authorization": f"Basic {basic}"}


def test_a_webhooks_over_long_provider_id_is_hashed_and_the_delivery_taken(api: Api) -> None:
    click = {
        "email": "ada@acme-corp.com",
        "event": "click",
        "timestamp": 1_772_441_400,
        "url": "https://www.example.com/pricing",
        "sg_event_id": "e" * 5_000,
        "sg_message_id": "m-1",
    }
    other = {**click, "email": "bob@acme-corp.com", "sg_event_id": "short"}
    for _ in range(2):  # the platform's retry: the same ids
        body, headers = sendgrid([click, other])
        assert api.call("POST", "/v1/webhooks/sendgrid", body, **headers).status == 200
    ids = [taken.id for _, taken in api.queue.sent]
    assert len(ids) == 4 and ids[:2] == ids[2:] and all(len(i) < 64 for i in ids)


# --- strict JSON in and out ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '{"email": "ada@acme-corp.com", "type": "page_view", "properties": {"score": NaN}}',
        '{"email": "ada@acme-corp.com", "type": "x", "profile": {"company_size": Infinity}}',
        '[{"email": "ada@acme-corp.com", "type": "x", "profile": {"revenue": -Infinity}}]',
        '{"email": "ada@acme-corp.com", "type": "x", "profile": {"revenue": 1e400}}',
        '{"email": "ada@acme-corp.com", "type": "x", "profile": {"revenue": 1%s}}' % ("0" * 400),
    ],
)
def test_nan_infinities_and_numbers_past_a_float_are_refused(api: Api, body: str) -> None:
    answer = api.call("POST", "/v1/events", body, **JSON)
    refused(answer, 400)
    assert "not valid JSON" in strict(answer.body)["detail"]
    assert api.queue.sent == []


def test_a_json_form_with_nan_is_refused(api: Api) -> None:
    answer = api.call("POST", "/v1/forms", '{"email": "ada@acme-corp.com", "x": NaN}', **JSON)
    refused(answer, 400)


def test_a_webhook_body_with_a_number_past_a_float_is_refused(api: Api) -> None:
    raw = '[{"email": "ada@acme-corp.com", "event": "open", "timestamp": 1e400}]'
    body, headers = sendgrid([], raw)
    refused(api.call("POST", "/v1/webhooks/sendgrid", body, **headers), 400)
    assert api.queue.sent == []


def test_a_nan_stored_before_input_was_strict_reads_as_null(api: Api) -> None:
    email = "ada@acme-corp.com"
    key = lead_key(email)
    profile = {"company_size": float("nan"), "revenue": float("inf"), "company": "Acme"}
    api.store.commit([LeadWrite(key, [ProfileRecord(key, email, profile)])])
    answer = api.call("GET", f"/v1/leads/{email}")
    assert answer.status == 200
    assert strict(answer.body)["profile"] == {
        "company_size": None,
        "revenue": None,
        "company": "Acme",
    }


# --- no super-linear regex on the public forms route -----------------------------------------

OLD_SIZE = re.compile(r"^\s*(\d[\d,. ]*)\s*(?:(?:-|\u2013|to)\s*(\d[\d,. ]*)|\+)?\s*$")


def old_company_size(value: str) -> int | str:
    """The regex reading before (polynomial on spaces), the reference on short input."""
    match = OLD_SIZE.match(value)
    if not match:
        return value
    digits = re.sub(r"[,. ]", "", match.group(1))
    return int(digits) if digits and len(digits) <= 12 else value


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("51-200", 51),
        ("1,000+", 1000),
        ("12", 12),
        ("10 to 50", 10),
        ("1 000", 1000),
        (" 201 \u2013 500 ", 201),
        ("1.5k", "1.5k"),
        ("5 - ", "5 - "),
        ("about 50", "about 50"),
        ("1" * 13, "1" * 13),
    ],
)
def test_company_size_reads_numbers_and_ranges(text: str, size: int | str) -> None:
    assert company_size(text) == size


def test_company_size_reads_as_the_regex_did() -> None:
    rng = random.Random(14)
    alphabet = "0123456789,. \t-+to\u2013x\u0665"
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert company_size(text) == old_company_size(text), repr(text)


@pytest.mark.parametrize(
    "hostile",
    [
        "1" + " " * 100_000 + "x",
        "1" + " " * 100_000 + "-" + " " * 100_000 + "x",
        "1 " * 50_000 + "to" + " 1" * 50_000 + "x",
        "1," * 50_000 + "\t" * 1_000 + "+x",
    ],
)
def test_company_size_reads_hostile_input_in_one_pass(hostile: str) -> None:
    """The regex took about a second for 1,000 spaces and grew with their cube: these would
    take hours. Read now in one pass."""
    assert company_size(hostile) == hostile


def test_a_hostile_company_size_on_the_public_route_is_kept_as_text(api: Api) -> None:
    fields = {"email": "ada@acme-corp.com", "company_size": "1" + " " * 998 + "x"}
    assert api.call("POST", "/v1/forms", urlencode(fields), **FORM).status == 202
    [(_, taken)] = api.queue.sent
    assert dict(taken.profile or {})["company_size"] == "1" + " " * 998 + "x"


# --- the honeypot: filled only with text -----------------------------------------------------


@pytest.mark.parametrize("gotcha", [False, 0, None, "", "  "])
def test_a_json_form_with_an_unfilled_honeypot_is_scored(api: Api, gotcha: Any) -> None:
    body = json.dumps({"email": "ada@acme-corp.com", "form": "demo", "_gotcha": gotcha})
    answer = api.call("POST", "/v1/forms", body, **JSON)
    assert answer.status == 202
    assert [email for email, _ in api.queue.sent] == ["ada@acme-corp.com"]


@pytest.mark.parametrize("gotcha", ["", "  "])
def test_an_html_form_with_an_unfilled_honeypot_is_scored(api: Api, gotcha: str) -> None:
    body = urlencode({"email": "ada@acme-corp.com", "_gotcha": gotcha})
    assert api.call("POST", "/v1/forms", body, **FORM).status == 202
    assert len(api.queue.sent) == 1


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (json.dumps({"email": "ada@acme-corp.com", "_gotcha": "x"}), JSON),
        (urlencode({"email": "ada@acme-corp.com", "_gotcha": "x"}), FORM),
    ],
)
def test_a_filled_honeypot_is_answered_as_success_and_scores_nothing(
    api: Api, body: str, headers: dict[str, str]
) -> None:
    answer = api.call("POST", "/v1/forms", body, **headers)
    assert answer.status == 202 and strict(answer.body)["status"] == "accepted"
    assert api.queue.sent == []
