"""POST /v1/forms: HTML and JSON posts, the honeypot, redirects and CORS."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.integration.api_client import Api, make_api

SITE = "https://www.vendor.example"
FORM = {"content-type": "application/x-www-form-urlencoded", "Origin": SITE}


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Api:
    return make_api(monkeypatch, LEADSCORE_CORS_ORIGINS=f"{SITE}, https://other.example")


def test_html_form_post_becomes_a_form_submit_event(api: Api) -> None:
    fields = {
        "email": " Grace@Corp.IO ",
        "first_name": "Grace",
        "company": "Corp",
        "company_size": "51-200",
        "country": "Germany",
        "annual_revenue": "12,000,000",
        "form": "demo-request",
        "page_url": "https://www.vendor.example/demo",
        "utm_source": "linkedin",
        "favourite_colour": "teal",
        "empty_field": "",
    }
    answer = api.call("POST", "/v1/forms", urlencode(fields), headers=FORM)
    assert answer.status == 202
    assert answer.json()["status"] == "accepted"
    assert answer.headers["Access-Control-Allow-Origin"] == SITE
    [event] = api.queued_events()
    assert event["id"] == answer.json()["event_id"]
    assert event["email"] == "grace@corp.io"
    assert event["type"] == "form_submit"
    assert event["profile"] == {
        "first_name": "Grace",
        "company": "Corp",
        "company_size": 51,
        "country": "DE",
        "annual_revenue": 12_000_000,
    }
    assert event["properties"] == {
        "form": "demo-request",
        "page_url": "https://www.vendor.example/demo",
        "utm_source": "linkedin",
        "attributes": {"favourite_colour": "teal"},
    }


def test_json_form_post(api: Api) -> None:
    answer = api.call(
        "POST", "/v1/forms", {"email": "a@b.io", "form": "newsletter", "company_size": 12}
    )
    assert answer.status == 202
    [event] = api.queued_events()
    assert event["profile"] == {"company_size": 12}
    assert event["properties"]["form"] == "newsletter"


def test_custom_attributes_are_bounded(api: Api) -> None:
    fields = {"email": "a@b.io", **{f"extra{n}": "x" * 1200 for n in range(40)}}
    assert api.call("POST", "/v1/forms", urlencode(fields), headers=FORM).status == 202
    [event] = api.queued_events()
    attributes = event["properties"]["attributes"]
    assert len(attributes) == 20
    assert all(len(value) <= 1000 for value in attributes.values())


def test_honeypot_answers_success_and_scores_nothing(api: Api) -> None:
    fields = {"email": "bot@spam.io", "_gotcha": "I am a bot"}
    answer = api.call("POST", "/v1/forms", urlencode(fields), headers=FORM)
    assert answer.status == 202
    assert answer.json()["event_id"]
    assert api.queued() == []


def test_redirect_only_to_allowed_origins(api: Api) -> None:
    thanks = f"{SITE}/thanks"
    fields = {"email": "a@b.io", "_redirect": thanks}
    answer = api.call("POST", "/v1/forms", urlencode(fields), headers=FORM)
    assert answer.status == 303
    assert answer.headers["Location"] == thanks
    for evil in (
        "https://evil.example/phish",
        f"{SITE}@evil.example/",
        f"{SITE}/\r\nSet-Cookie: x=1",
        "javascript:alert(1)",
    ):
        fields = {"email": "a@b.io", "_redirect": evil}
        answer = api.call("POST", "/v1/forms", urlencode(fields), headers=FORM)
        assert answer.status == 202, evil
        assert "Location" not in answer.headers


def test_email_required_and_errors_carry_cors(api: Api) -> None:
    answer = api.call("POST", "/v1/forms", urlencode({"first_name": "x"}), headers=FORM)
    assert answer.status == 422
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.headers["Access-Control-Allow-Origin"] == SITE
    assert answer.json()["errors"] == [{"field": "email", "message": "Field required"}]
    assert api.queued() == []


def test_preflight_and_unknown_origins(api: Api) -> None:
    answer = api.call("OPTIONS", "/v1/forms", headers={"Origin": SITE})
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == SITE
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    answer = api.call("OPTIONS", "/v1/forms", headers={"Origin": "https://evil.example"})
    assert answer.status == 403
    assert "Access-Control-Allow-Origin" not in answer.headers
    post = {"content-type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"}
    answer = api.call("POST", "/v1/forms", urlencode({"email": "a@b.io"}), headers=post)
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_body_size_and_media_type_limits(api: Api) -> None:
    big = urlencode({"email": "a@b.io", "note": "x" * 70_000})
    assert api.call("POST", "/v1/forms", big, headers=FORM).status == 413
    answer = api.call("POST", "/v1/forms", "<xml/>", headers={"content-type": "text/xml"})
    assert answer.status == 415
    assert api.queued() == []
