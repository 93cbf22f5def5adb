"""A lead's owner through the API on moto: sales' feedback sets it (a trusted value, over the
real table's version condition), a form post cannot, and a bad owner is a 422 at its field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from leadscore.adapters import model_store
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.domain.emails import lead_key
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT
from tests.integration.api_client import Api, make_api
from tests.integration.test_api_leads import EMAIL, KEY, score_queue, send_activity

FEEDBACK = "/v1/leads/grace@corp.io/feedback"


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Api:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), datetime.now(UTC))
    return make_api(monkeypatch, LEADSCORE_API_KEY="k")


def stored_owner() -> tuple[object, str | None]:
    profile = DynamoLeadStore().read_profiles([lead_key(EMAIL)])[lead_key(EMAIL)]
    return profile.profile.get("owner"), profile.untrusted.get("owner")


def test_feedback_sets_the_owner_and_a_form_cannot_change_it(api: Api) -> None:
    send_activity(api)
    score_queue(api)
    body = {"outcome": "accepted", "owner": " Anna@Vendor.Example "}
    assert api.call("POST", FEEDBACK, body, headers=KEY).status == 202
    assert stored_owner() == ("anna@vendor.example", None)
    assert api.call("GET", "/v1/leads/grace@corp.io", headers=KEY).json()["profile"]["owner"] == (
        "anna@vendor.example"
    )

    form = {"email": EMAIL, "owner": "me@evil.example", "form": "contact-us"}
    assert api.call("POST", "/v1/forms", form).status == 202
    score_queue(api)
    assert stored_owner() == ("anna@vendor.example", None)

    again = {"outcome": "won", "owner": "ben@vendor.example"}  # sales may hand it over
    assert api.call("POST", FEEDBACK, again, headers=KEY).status == 202
    assert stored_owner() == ("ben@vendor.example", None)


def test_a_bad_owner_is_refused_at_its_field_and_an_unknown_lead_is_404(api: Api) -> None:
    send_activity(api)
    score_queue(api)
    bad = api.call("POST", FEEDBACK, {"outcome": "won", "owner": "anna"}, headers=KEY)
    assert bad.status == 422 and bad.json()["errors"][0]["field"] == "owner"
    assert stored_owner() == (None, None)
    unknown = "/v1/leads/x@corp.io/feedback"
    answer = api.call("POST", unknown, {"outcome": "won", "owner": "a@v.example"}, headers=KEY)
    assert answer.status == 404
