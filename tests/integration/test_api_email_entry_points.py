"""Every entry point makes one lead of one address, however it is spelled: a form post, `POST
/v1/events`, a platform's webhook, the scoring queue and `/v1/leads/{email}` agree."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import pytest
from leadscore.adapters import model_store
from leadscore.adapters.webhooks import env_name
from leadscore.domain.emails import lead_key
from leadscore.domain.messages import decode
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, LambdaContext, Topic, load_function
from tests.integration.api_client import Api, make_api

KEY = {"x-api-key": "k"}
BASIC = "hooks:correct horse battery"
WEBHOOK = {
    "Content-Type": "application/json",
    "Authorization": "Basic " + base64.b64encode(BASIC.encode()).decode(),
}
HTML_FORM = {"content-type": "application/x-www-form-urlencoded"}
CANONICAL = "anna.schmidt@xn--bcher-kva.de"
SPELLINGS = [
    "anna.schmidt@bücher.de",
    " Anna.Schmidt@BÜCHER.DE ",
    "anna.schmidt\u200b@xn--bcher-kva.de",  # a zero-width space pasted with the address
    "\ufeffANNA.SCHMIDT@XN--BCHER-KVA.DE",
    "\uff41\uff4e\uff4e\uff41.schmidt\uff20bu\u0308cher.de",  # full-width, decomposed ü
]


@pytest.fixture
def api(topic: Topic, monkeypatch: pytest.MonkeyPatch) -> Api:
    api = make_api(monkeypatch, LEADSCORE_API_KEY="k", **{env_name("basic:postmark"): BASIC})
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), datetime.now(UTC))
    return api


def post_everywhere(api: Api, spelling: str, n: int) -> None:
    """One event for `spelling` through each entry point that takes events."""
    html = urlencode({"email": spelling, "form": f"demo-{n}"})
    assert api.call("POST", "/v1/forms", html, headers=HTML_FORM).status == 202
    assert api.call("POST", "/v1/forms", {"email": spelling, "form": f"contact-{n}"}).status == 202
    event = {"email": spelling, "type": "page_view", "id": f"view-{n}"}
    assert api.call("POST", "/v1/events", [event], headers=KEY).status == 202
    click = {
        "RecordType": "Click",
        "Recipient": spelling,
        "MessageID": f"pm-{n}",
        "ReceivedAt": "2026-01-01T10:00:00Z",
        "OriginalLink": "https://acme.test/pricing",
    }
    answer = api.call("POST", "/v1/webhooks/postmark", json.dumps(click), headers=WEBHOOK)
    assert answer.status == 200, answer.body


def test_every_spelling_through_every_entry_point_is_queued_as_one_address(api: Api) -> None:
    for n, spelling in enumerate(SPELLINGS):
        post_everywhere(api, spelling, n)
    bodies = [message["Body"] for message in api.queued()]
    queued = [event for body in bodies for event in json.loads(body)["events"]]
    incoming = [item for body in bodies for item in decode(body)]  # as the scorer reads them

    assert len(queued) == len(incoming) == 4 * len(SPELLINGS)
    assert {event["email"] for event in queued} == {CANONICAL}
    assert {lead_key(item.email) for item in incoming} == {lead_key(CANONICAL)}
    assert {lead_key(spelling) for spelling in SPELLINGS} == {lead_key(CANONICAL)}


def test_every_spelling_reads_the_one_lead_they_scored(api: Api) -> None:
    for n, spelling in enumerate(SPELLINGS):
        post_everywhere(api, spelling, n)
    records = [
        {"messageId": message["MessageId"], "body": message["Body"], "receiptHandle": "r"}
        for message in api.queued()
    ]
    scorer = load_function("scorer")
    answer = scorer.lambda_handler({"Records": records}, LambdaContext())
    assert answer == {"batchItemFailures": []}
    for spelling in SPELLINGS:
        answer = api.call("GET", f"/v1/leads/{quote(spelling.strip())}", headers=KEY)
        assert answer.status == 200, (spelling, answer.body)
        assert answer.json()["email"] == CANONICAL


def test_an_address_no_lead_can_have_is_refused_alike(api: Api) -> None:
    """A form and `/v1/events` answer 422 on the email; a webhook scores nothing."""
    for address in [
        "anna@localhost",
        "anna schmidt@bücher.de",
        "anna@b\ue000cher.de",
        "anna@bücher..de",
        "anna@\u2488.de",  # NFKC would make "1." of it: an empty label
        "anna@bücher.de,ben@bücher.de",
        "anna@bücher.de>",
        "anna@ben@bücher.de",
        '"anna"@bücher.de',
    ]:
        form = api.call("POST", "/v1/forms", {"email": address})
        assert form.status == 422
        assert [e["field"] for e in form.json()["errors"]] == ["email"]
        events = api.call("POST", "/v1/events", {"email": address, "type": "x"}, headers=KEY)
        assert events.status == 422
        assert [e["field"] for e in events.json()["errors"]] == ["email"]
        click = {"RecordType": "Click", "Recipient": address, "MessageID": "pm-x"}
        hook = api.call("POST", "/v1/webhooks/postmark", json.dumps(click), headers=WEBHOOK)
        assert hook.status == 200
        assert api.call("GET", f"/v1/leads/{quote(address)}", headers=KEY).status == 422
    assert api.queued() == []
