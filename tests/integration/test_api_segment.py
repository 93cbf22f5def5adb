"""POST /v1/sources/segment through the API handler: HTTP Basic with an ingest key, the
spec's calls and batches, and what a batch with invalid calls gets."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from leadscore.adapters.api_keys import ApiKeys
from leadscore.settings import settings

from tests.integration.api_client import Api, make_api

ANONYMOUS = "5b0c1f3e-7a2d-4c61-9d4e-2f8a1b3c4d5e"


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Api:
    return make_api(monkeypatch, LEADSCORE_SEGMENT_EVENTS='{"Trial Started": "trial"}')


@pytest.fixture
def keys(aws: None) -> dict[str, str]:
    store = ApiKeys(boto3.client("dynamodb"), settings().table_name)
    now = datetime.now(UTC)
    return {scope: store.create(scope, [scope], now)[0] for scope in ("ingest", "sales")}


def post(api: Api, body: Any, headers: dict[str, str]) -> Any:
    return api.call("POST", "/v1/sources/segment", json.dumps(body), headers=headers)


def call(kind: str, n: int = 1, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "messageId": f"m-{n}", "timestamp": "2025-12-01T10:00:00.000Z",
            "anonymousId": ANONYMOUS, **fields}  # fmt: skip


def test_an_ingest_key_as_basic_user_is_taken(api: Api, keys: dict[str, str]) -> None:
    answer = post(api, call("track", event="Demo Requested", userId="Ann@Acme.com"),
                  basic(keys["ingest"]))  # fmt: skip
    assert answer.status == 200
    assert answer.json() == {"success": True}
    [event] = api.queued_events()
    assert event["email"] == "ann@acme.com"
    assert event["visitor"] == ANONYMOUS
    assert event["id"] == "segment-m-1"
    assert event["type"] == "demo_request"
    assert event["source"] == "segment"
    assert event["occurred_at"] == "2025-12-01T10:00:00Z"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Basic " + base64.b64encode(b"lsk_unknown:").decode()}, 401),
        ({"Authorization": "Basic not-base64!"}, 401),
        ({"Authorization": "Bearer something"}, 401),
    ],
)
def test_without_a_valid_key_it_is_unauthorized(
    api: Api, keys: dict[str, str], headers: dict[str, str], status: int
) -> None:
    assert post(api, call("track", event="x", userId="a@b.io"), headers).status == status
    assert api.queued_events() == []


def test_a_sales_key_is_forbidden_and_two_keys_are_none(api: Api, keys: dict[str, str]) -> None:
    assert post(api, call("page"), basic(keys["sales"])).status == 403
    both = basic(keys["ingest"]) | {"x-api-key": keys["ingest"]}
    assert post(api, call("page"), both).status == 401
    assert api.queued_events() == []


def test_a_batch_of_every_call(api: Api, keys: dict[str, str]) -> None:
    batch = [
        call("page", 1, properties={"title": "Pricing"},
             context={"page": {"url": "https://www.example.com/pricing"}}),
        call("identify", 2, userId="42", traits={"email": "ann@acme.com", "firstName": "Ann",
             "company": {"name": "Acme"}, "title": "CTO", "employees": 250,
             "address": {"country": "Germany"}}),
        call("track", 3, event="Trial Started", context={"traits": {"email": "ann@acme.com"}}),
        call("track", 4, event="Some Custom Thing!"),
        call("alias", 5, userId="ann@acme.com", previousId=ANONYMOUS, anonymousId=None),
        call("screen", 6, name="Home"),
        call("group", 7, userId="ann@acme.com", groupId="g1", traits={"name": "Acme"}),
        call("track", 8, event="Seen", userId="not-an-email", anonymousId="short"),
    ]  # fmt: skip
    answer = post(api, {"batch": batch}, basic(keys["ingest"]))
    assert answer.status == 200, answer.body
    events = {event["id"]: event for event in api.queued_events()}
    assert sorted(events) == [f"segment-m-{n}" for n in range(1, 8)]  # m-8: nobody to credit
    page = events["segment-m-1"]
    assert (page["type"], "email" in page, page["visitor"]) == ("page_view", False, ANONYMOUS)
    assert page["properties"] == {"title": "Pricing", "url": "https://www.example.com/pricing"}
    identify = events["segment-m-2"]
    assert identify["email"] == "ann@acme.com" and identify["type"] == "identify"
    assert identify["profile"] == {"first_name": "Ann", "company": "Acme", "job_title": "CTO",
                                   "company_size": 250, "country": "DE"}  # fmt: skip
    assert events["segment-m-3"]["type"] == "trial"  # the configured table
    assert events["segment-m-4"]["type"] == "some_custom_thing"
    alias = events["segment-m-5"]
    assert (alias["email"], alias["visitor"], alias["type"]) == ("ann@acme.com", ANONYMOUS,
                                                                 "identify")  # fmt: skip
    assert events["segment-m-6"]["type"] == "screen_view"
    assert events["segment-m-7"]["profile"] == {"company": "Acme"}


def test_invalid_calls_are_named_and_the_valid_ones_queued(api: Api, keys: dict[str, str]) -> None:
    batch = [
        call("track", 1, event="Demo Requested", userId="a@b.io"),
        call("track", 2, event="", userId="a@b.io"),
        {**call("page", 3), "messageId": None},
        call("unknown", 4),
        call("page", 5, timestamp="yesterday"),
        call("track", 6, event="x", properties={"big": "x" * 40_000}),
        "not a call",
    ]
    answer = post(api, {"batch": batch}, basic(keys["ingest"]))
    assert answer.status == 422
    problem = answer.json()
    assert problem["detail"].startswith("6 of 7 calls are not valid")
    fields = [error["field"] for error in problem["errors"]]
    assert fields == ["batch[1].event", "batch[2].messageId", "batch[3].type",
                      "batch[4].timestamp", "batch[5]", "batch[6]"]  # fmt: skip
    assert [event["id"] for event in api.queued_events()] == ["segment-m-1"]


def test_an_untrusted_source_queues_its_calls_as_untrusted(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SegmentTrusted false: its calls may be typed in a browser (analytics.js)."""
    api = make_api(monkeypatch, LEADSCORE_SEGMENT_TRUSTED="false")
    store = ApiKeys(boto3.client("dynamodb"), settings().table_name)
    key = store.create("ingest", ["ingest"], datetime.now(UTC))[0]
    identify = call("identify", 1, userId="ann@acme.com", traits={"company": "Nobody Inc"})
    track = call("track", 2, event="Demo Requested", userId="ann@acme.com")
    assert post(api, {"batch": [identify, track]}, basic(key)).status == 200
    queued = api.queued_events()
    assert [event["source"] for event in queued] == ["segment-browser"] * 2
    assert [event["visitor"] for event in queued] == [ANONYMOUS] * 2  # linked as a form links


def test_an_event_table_that_cannot_be_read_stops_this_route_only(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(
        monkeypatch, LEADSCORE_SEGMENT_EVENTS='{"Trial Started": ', LEADSCORE_API_KEY="k"
    )
    answer = post(api, call("page", userId="ann@acme.com"), {"x-api-key": "k"})
    assert answer.status == 503
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["detail"] == "the Segment source is misconfigured"
    event = {"email": "bob@acme.com", "type": "page_view"}
    assert api.call("POST", "/v1/events", event, headers={"x-api-key": "k"}).status == 202
    assert api.call("GET", "/v1/leads/bob%40acme.com", headers={"x-api-key": "k"}).status == 404
    assert [event["email"] for event in api.queued_events()] == ["bob@acme.com"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{", 400),
        ('{"type": "page", "messageId": "m", "properties": {"n": NaN}}', 400),
        (json.dumps({"type": "track", "event": "x", "properties": {"a": "x" * 33_000}}), 413),
        (json.dumps({"batch": [{"type": "page"}] * 60_000}), 413),
        (json.dumps({"batch": {"type": "page"}}), 422),
        ("[]", 422),
    ],
)
def test_hostile_bodies(api: Api, keys: dict[str, str], body: str, status: int) -> None:
    answer = api.call("POST", "/v1/sources/segment", body, headers=basic(keys["ingest"]))
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert api.queued_events() == []
