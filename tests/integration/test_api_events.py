"""POST /v1/events and GET /v1/health through the real handler, against moto."""

from __future__ import annotations

import pytest

from tests.integration.api_client import Api, make_api

KEY = {"x-api-key": "secret-key"}


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Api:
    return make_api(monkeypatch, LEADSCORE_API_KEY="secret-key")


def test_health(api: Api) -> None:
    answer = api.call("GET", "/v1/health")
    assert answer.status == 200
    assert answer.json() == {"status": "ok"}


def test_one_event_is_normalised_and_enqueued(api: Api) -> None:
    answer = api.call(
        "POST",
        "/v1/events",
        {"email": "  Ada@Example.COM ", "type": "page_view", "properties": {"url": "/pricing"}},
        headers=KEY,
    )
    assert answer.status == 202
    body = answer.json()
    assert body["accepted"] == 1
    [event] = api.queued_events()
    assert event["email"] == "ada@example.com"
    assert event["id"] == body["event_ids"][0]
    assert event["properties"] == {"url": "/pricing"}


def test_same_event_gets_the_same_id_whatever_the_casing(api: Api) -> None:
    first = api.call("POST", "/v1/events", {"email": "A@x.io", "type": "download"}, headers=KEY)
    again = api.call("POST", "/v1/events", {"email": "a@x.io ", "type": "download"}, headers=KEY)
    assert first.json()["event_ids"] == again.json()["event_ids"]
    given = api.call(
        "POST", "/v1/events", {"id": "e-1", "email": "a@x.io", "type": "download"}, headers=KEY
    )
    assert given.json()["event_ids"] == ["e-1"]


def test_500_events_take_few_sqs_requests(api: Api) -> None:
    events = [
        {"email": f"lead{n % 50}@corp{n % 7}.com", "type": "page_view", "id": f"e{n}"}
        for n in range(500)
    ]
    answer = api.call("POST", "/v1/events", events, headers=KEY)
    assert answer.status == 202
    assert answer.json()["accepted"] == 500
    assert len(answer.json()["event_ids"]) == 500
    assert {e["id"] for e in api.queued_events()} == {f"e{n}" for n in range(500)}
    # 500 small events fit in one message: one SendMessageBatch request
    assert api.module.deps.queue.requests == 1


def test_too_many_events_or_bad_ones_are_problems(api: Api) -> None:
    too_many = [{"email": "a@x.io", "type": "page_view"}] * 501
    answer = api.call("POST", "/v1/events", too_many, headers=KEY)
    assert answer.status == 413
    assert answer.headers["Content-Type"] == "application/problem+json"

    answer = api.call(
        "POST",
        "/v1/events",
        [
            {"email": "nope", "type": "page_view"},
            {"email": "a@x.io"},
            {"email": "b@x.io", "type": "x"},
        ],
        headers=KEY,
    )
    assert answer.status == 422
    problem = answer.json()
    assert problem["status"] == 422 and problem["title"] and problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["[0].email", "[1].type"]
    assert api.queued() == []


def test_api_key_is_required_when_configured(api: Api) -> None:
    event = {"email": "a@x.io", "type": "page_view"}
    assert api.call("POST", "/v1/events", event).status == 401
    assert api.call("POST", "/v1/events", event, headers={"x-api-key": "wrong"}).status == 401
    assert api.queued() == []
    assert api.call("POST", "/v1/events", event, headers={"X-Api-Key": "secret-key"}).status == 202


def test_bad_json_and_unknown_routes_are_problems(api: Api) -> None:
    answer = api.call("POST", "/v1/events", "{not json", headers=KEY)
    assert answer.status == 400
    assert answer.json()["title"] == "Bad Request"
    answer = api.call("GET", "/v1/nothing")
    assert answer.status == 404
    assert answer.headers["Content-Type"] == "application/problem+json"


def test_a_server_fault_is_a_problem_without_details(api: Api) -> None:
    class BrokenQueue:
        def send(self, entries: object, received_at: object) -> int:
            raise RuntimeError("secret internals")

    api.module.deps.queue = BrokenQueue()
    answer = api.call("POST", "/v1/events", {"email": "a@x.io", "type": "x"}, headers=KEY)
    assert answer.status == 500
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert "secret" not in answer.body


def test_an_event_may_name_the_website_visitor_the_lead_is(api: Api) -> None:
    """Your systems say which visitor the lead is (a trusted claim: it links, or moves, it)."""
    visitor = "Vq3xJ0c9bJm1TqKz5sWf2A"
    event = {"id": "crm-1", "email": "ada@example.com", "type": "identify", "visitor": visitor}
    assert api.call("POST", "/v1/events", event, headers=KEY).status == 202
    [queued] = api.queued_events()
    assert queued["visitor"] == visitor and queued["email"] == "ada@example.com"
    bad = api.call("POST", "/v1/events", {**event, "visitor": "short"}, headers=KEY)
    assert bad.status == 422 and bad.json()["errors"][0]["field"] == "visitor"
