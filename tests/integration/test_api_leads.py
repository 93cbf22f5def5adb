"""/v1/leads and /v1/models through the real handler: scores, history, erasure, feedback."""

from __future__ import annotations

import pytest
from leadscore.adapters import model_store
from leadscore.adapters.dynamo import LeadTable, lead_key, lead_pk
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.services.scoring import score_messages
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, Recorder
from tests.integration.api_client import Api, make_api

KEY = {"x-api-key": "k"}
EMAIL = "Grace@Corp.io"


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Api:
    return make_api(monkeypatch, LEADSCORE_API_KEY="k")


@pytest.fixture
def published(api: Api) -> None:
    from datetime import UTC, datetime

    model_store.publish(load_model(ROOT / "models" / "default.yaml"), datetime.now(UTC))


def score_queue(api: Api) -> None:
    messages = [(m["MessageId"], m["Body"]) for m in api.queued()]
    outcome = score_messages(
        messages, DynamoLeadStore(), model_store.CachedModels(ttl=0), Recorder()
    )
    assert not outcome.failed


def send_activity(api: Api, email: str = EMAIL) -> None:
    form = {
        "email": email,
        "first_name": "Grace",
        "company": "Corp",
        "industry": "software",
        "company_size": "201-500",
        "country": "United States",
        "job_title": "VP Engineering",
        "form": "demo-request",
    }
    assert api.call("POST", "/v1/forms", form).status == 202
    events = [
        {"email": email, "type": "page_view", "properties": {"url": "/pricing"}, "id": f"p{n}"}
        for n in range(3)
    ] + [{"email": email, "type": "webinar_attended", "id": "w1"}]
    assert api.call("POST", "/v1/events", events, headers=KEY).status == 202


@pytest.mark.usefixtures("published")
def test_lead_scores_and_history_add_up(api: Api) -> None:
    send_activity(api)
    score_queue(api)
    answer = api.call("GET", "/v1/leads/grace%40corp.io", headers=KEY)
    assert answer.status == 200, answer.body
    lead = answer.json()
    assert lead["email"] == "grace@corp.io"
    assert lead["account"] == "corp.io"
    assert lead["profile"]["company"] == "Corp"
    [score] = lead["scores"]
    assert score["model"] == "default"
    assert 0 < score["score"] <= 100
    assert score["grade"] in "ABCD"
    assert score["reasons"]

    history = api.call("GET", "/v1/leads/grace@corp.io/history", headers=KEY).json()
    [entry] = history["history"]
    assert entry["model"] == "default"
    assert entry["points"] == pytest.approx(score["score"], abs=0.011)
    times = [change["at"] for change in entry["changes"]]
    assert times == sorted(times)


@pytest.mark.usefixtures("published")
def test_unknown_lead_and_bad_email(api: Api) -> None:
    answer = api.call("GET", "/v1/leads/nobody@corp.io", headers=KEY)
    assert answer.status == 404
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert api.call("GET", "/v1/leads/nobody@corp.io/history", headers=KEY).status == 404
    assert api.call("GET", "/v1/leads/not-an-email", headers=KEY).status == 422
    assert api.call("GET", "/v1/leads/grace@corp.io").status == 401


@pytest.mark.usefixtures("published")
def test_erasure_leaves_nothing_even_with_events_still_queued(api: Api) -> None:
    send_activity(api)
    score_queue(api)
    assert api.call("GET", "/v1/accounts/corp.io", headers=KEY).status == 200
    send_activity(api)  # still on the queue when the erasure arrives
    assert api.call("DELETE", "/v1/leads/grace@corp.io", headers=KEY).status == 204
    # Its only person gone, the account has nothing left to show.
    assert api.call("GET", "/v1/accounts/corp.io", headers=KEY).status == 404
    score_queue(api)

    # The erasure marker and the hashed ids of its events, which expire: nothing else.
    items = list(LeadTable.query(lead_pk(lead_key("grace@corp.io"))))
    assert items[0].sk == "ERASED" and len(items) > 1
    assert all(item.sk.startswith("GONE#") for item in items[1:])
    assert all(item.expires_at is not None for item in items)
    assert api.call("GET", "/v1/leads/grace@corp.io", headers=KEY).status == 404
    everything = LeadTable.scan()
    leftovers = [
        item
        for item in everything
        if "grace@corp.io" in str(item.attribute_values).lower()
        or (item.pk.startswith("LEAD#") and item.sk != "ERASED" and not item.sk.startswith("GONE#"))
    ]
    assert leftovers == [], [(i.pk, i.sk) for i in leftovers]


@pytest.mark.usefixtures("published")
def test_feedback_is_recorded(api: Api) -> None:
    send_activity(api)
    score_queue(api)
    answer = api.call("POST", "/v1/leads/grace@corp.io/feedback", {"outcome": "won"}, headers=KEY)
    assert answer.status == 202
    assert api.call("GET", "/v1/leads/grace@corp.io", headers=KEY).json()["feedback"] == "won"
    kinds = [i.sk.split("#")[0] for i in LeadTable.query(lead_pk(lead_key("grace@corp.io")))]
    assert "FEEDBACK" in kinds
    bad = api.call("POST", "/v1/leads/grace@corp.io/feedback", {"outcome": "maybe"}, headers=KEY)
    assert bad.status == 422
    assert bad.json()["errors"][0]["field"] == "outcome"
    unknown = api.call("POST", "/v1/leads/x@corp.io/feedback", {"outcome": "won"}, headers=KEY)
    assert unknown.status == 404


@pytest.mark.usefixtures("published")
def test_models_list_read_publish(api: Api) -> None:
    listed = api.call("GET", "/v1/models", headers=KEY).json()["models"]
    assert [(m["id"], m["version"]) for m in listed] == [("default", 1)]
    document = api.call("GET", "/v1/models/default", headers=KEY).json()
    assert document["id"] == "default"
    document.pop("version")
    answer = api.call("PUT", "/v1/models/default", document, headers=KEY)
    assert answer.status == 200, answer.body
    assert answer.json() == {"id": "default", "version": 2}

    assert api.call("PUT", "/v1/models/other", document, headers=KEY).status == 422
    broken = {**document, "weights": {"fit": 80, "engagement": 80}, "fit": "nope"}
    answer = api.call("PUT", "/v1/models/default", broken, headers=KEY)
    assert answer.status == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert len(fields) >= 2 and "fit" in fields
    assert api.call("GET", "/v1/models/missing", headers=KEY).status == 404
