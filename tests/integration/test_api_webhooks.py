"""POST /v1/webhooks/{provider} through the real handler: verified, translated, enqueued."""

from __future__ import annotations

import base64
import json

import pytest
from leadscore.adapters.webhooks import env_name

from tests.conftest import ROOT, LambdaContext
from tests.integration.api_client import Api, make_api, proxy_event

BASIC = "crm-hooks:correct horse battery"
AUTH = {"Authorization": "Basic " + base64.b64encode(BASIC.encode()).decode()}
POSTMARK = (ROOT / "tests" / "fixtures" / "webhooks" / "postmark.json").read_bytes()


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Api:
    return make_api(monkeypatch, **{env_name("basic:postmark"): BASIC})


def test_a_signed_webhook_is_enqueued(api: Api) -> None:
    headers = {"Content-Type": "application/json", **AUTH}
    answer = api.call("POST", "/v1/webhooks/postmark", POSTMARK.decode(), headers=headers)
    assert answer.status == 200
    [event] = api.queued_events()
    assert "@" in event["email"] and event["type"].startswith("email_")


def test_a_base64_body_is_decoded(api: Api) -> None:
    headers = {"Content-Type": "application/json", **AUTH}
    assert api.call("POST", "/v1/webhooks/postmark", POSTMARK, headers=headers).status == 200
    assert len(api.queued_events()) == 1


def test_refusals(api: Api) -> None:
    wrong = {"Authorization": "Basic " + base64.b64encode(b"crm-hooks:nope").decode()}
    answer = api.call("POST", "/v1/webhooks/postmark", POSTMARK.decode(), headers=wrong)
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic ")
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert api.call("POST", "/v1/webhooks/nosuch", "{}", headers=AUTH).status == 404
    assert api.call("POST", "/v1/webhooks/postmark", "[[[", headers=AUTH).status == 400
    assert api.queued() == []


def test_ses_subscription_confirmation_is_confirmed_once(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(monkeypatch, **{env_name("basic:ses"): BASIC})
    confirmed: list[str] = []
    api.module.deps.confirm_subscription = confirmed.append
    subscribe = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t1"
    envelope = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m-1",
        "Token": "t1",
        "TopicArn": "arn:aws:sns:eu-west-1:111122223333:ses-events",
        "SubscribeURL": subscribe,
        "Timestamp": "2026-01-01T12:00:00.000Z",
    }
    headers = {"Content-Type": "text/plain; charset=UTF-8", **AUTH}
    answer = api.call("POST", "/v1/webhooks/ses", json.dumps(envelope), headers=headers)
    assert answer.status == 200, answer.body
    assert confirmed == [subscribe]
    assert api.queued() == []

    elsewhere = {**envelope, "SubscribeURL": "https://evil.example/?Action=ConfirmSubscription"}
    answer = api.call("POST", "/v1/webhooks/ses", json.dumps(elsewhere), headers=headers)
    assert answer.status == 401
    assert confirmed == [subscribe]
    assert api.queued() == []


def test_a_signed_url_is_the_public_one_with_the_stage(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mandrill signs the URL it posts to: deployed, that URL carries the stage (`/prod`)
    which API Gateway leaves out of `path`, so no `url:mandrill` secret should be needed."""
    import hashlib
    import hmac
    import urllib.parse

    key = "mandrill-webhook-key"
    api = make_api(monkeypatch, **{env_name("mandrill"): key})
    body = (ROOT / "tests" / "fixtures" / "webhooks" / "mandrill.form").read_bytes()
    events = dict(urllib.parse.parse_qsl(body.decode()))["mandrill_events"]
    host = "abc123.execute-api.eu-west-1.amazonaws.com"
    public = f"https://{host}/prod/v1/webhooks/mandrill"
    digest = hmac.new(key.encode(), (public + "mandrill_events" + events).encode(), hashlib.sha1)
    headers = {
        "Host": host,
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Mandrill-Signature": base64.b64encode(digest.digest()).decode(),
    }
    event = proxy_event("POST", "/v1/webhooks/mandrill", body.decode(), headers=headers)
    event["requestContext"]["path"] = "/prod/v1/webhooks/mandrill"
    assert api.module.lambda_handler(event, LambdaContext())["statusCode"] == 200
    assert len(api.queued_events()) == 2

    event["requestContext"]["path"] = "/v1/webhooks/mandrill"  # another URL: refused
    assert api.module.lambda_handler(event, LambdaContext())["statusCode"] == 401
    assert api.queued() == []
