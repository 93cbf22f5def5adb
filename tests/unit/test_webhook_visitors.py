"""A form platform's hidden visitor field (`ls_vid`, or the snippet's `_visitor`) travels with
its form submission: the queued event names the website visitor, so the scorer links it to the
lead; an invalid value is dropped, and the field is never kept as a profile field or property."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from leadscore.adapters.webhooks import WebhookRequest, env_name, handle
from leadscore.domain.messages import decode

from tests.integration.api_client import Api, make_api

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
VISITOR = "vid_8f3kQ2mZ71xLp0Aa"
SECRET = "form-platform-secret"
TOKEN = "url-token-0123456789"
INVALID = [
    "",
    "tooShort",
    "a" * 65,
    "not a visitor id!",
    "vid_8f3kQ2mZ71xLp0Aa\u00e9",
    12**17,
    None,
]


def typeform(hidden: dict[str, Any]) -> bytes:
    document = json.loads((FIXTURES / "typeform.json").read_bytes())
    document["form_response"]["hidden"].update(hidden)
    return json.dumps(document).encode()


def webflow(hidden: dict[str, Any]) -> bytes:
    document = json.loads((FIXTURES / "webflow.json").read_bytes())
    document["payload"]["data"].update(hidden)
    return json.dumps(document).encode()


def unbounce(hidden: dict[str, Any]) -> bytes:
    """Unbounce sends every answer as a list of strings inside the form field `data.json`."""
    form = dict(urllib.parse.parse_qsl((FIXTURES / "unbounce.form").read_text()))
    answers = json.loads(form["data.json"])
    answers.update({name: [value] for name, value in hidden.items()})
    form["data.json"] = json.dumps(answers)
    return urllib.parse.urlencode(form).encode()


BODIES: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "typeform": typeform,
    "webflow": webflow,
    "unbounce": unbounce,
}
CONTENT_TYPES = {
    "typeform": "application/json",
    "webflow": "application/json",
    "unbounce": "application/x-www-form-urlencoded",
}


def events(provider: str, body: bytes) -> list[dict[str, Any]]:
    """The event documents the platform's request yields (unsigned: the parsing is tested)."""
    headers = {"Content-Type": CONTENT_TYPES[provider]}
    request = WebhookRequest(provider, "POST", headers, body)
    return handle(request, {f"allow-unsigned:{provider}": "true"}, NOW).events


@pytest.mark.parametrize("field", ["ls_vid", "_visitor"])
@pytest.mark.parametrize("provider", sorted(BODIES))
def test_the_hidden_field_names_the_visitor_and_nothing_else_changes(
    provider: str, field: str
) -> None:
    [plain] = events(provider, BODIES[provider]({}))
    [linked] = events(provider, BODIES[provider]({field: VISITOR}))
    assert "visitor" not in plain
    # Same event (same id: a retry with the field is the same submission), plus the visitor;
    # the field is in neither the profile nor the properties.
    assert linked == {**plain, "visitor": VISITOR}


@pytest.mark.parametrize("value", INVALID, ids=repr)
@pytest.mark.parametrize("provider", sorted(BODIES))
def test_an_invalid_visitor_id_is_dropped_and_the_submission_kept(
    provider: str, value: Any
) -> None:
    [plain] = events(provider, BODIES[provider]({}))
    assert events(provider, BODIES[provider]({"ls_vid": value, "_visitor": value})) == [plain]


def test_a_valid_id_in_either_field_is_taken() -> None:
    body = typeform({"ls_vid": "not one", "_visitor": VISITOR})
    assert events("typeform", body)[0]["visitor"] == VISITOR


def test_a_submission_without_an_email_stays_ignored_with_a_visitor() -> None:
    """A visitor is linked to a lead: without the lead's address there is nothing to link."""
    document = json.loads(typeform({"ls_vid": VISITOR}))
    response = document["form_response"]
    response["answers"] = [a for a in response["answers"] if a["type"] != "email"]
    assert events("typeform", json.dumps(document).encode()) == []


# --- through POST /v1/webhooks/{provider}, as each platform authenticates ------------------------


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Api:
    return make_api(
        monkeypatch,
        **{
            env_name("typeform"): SECRET,
            env_name("token:webflow"): TOKEN,
            env_name("token:unbounce"): TOKEN,
            env_name("hubspot"): SECRET,
        },
    )


def post(api: Api, provider: str, body: bytes) -> int:
    headers = {"Content-Type": CONTENT_TYPES.get(provider, "application/json")}
    query = None
    if provider == "typeform":
        digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
        headers["Typeform-Signature"] = "sha256=" + base64.b64encode(digest).decode()
    elif provider == "hubspot":
        headers["X-HubSpot-Signature"] = hashlib.sha256(SECRET.encode() + body).hexdigest()
    else:
        query = {"token": TOKEN}
    answer = api.call(
        "POST", f"/v1/webhooks/{provider}", body.decode(), headers=headers, query=query
    )
    return answer.status


@pytest.mark.parametrize("provider", sorted(BODIES))
def test_the_queued_event_names_the_visitor(api: Api, provider: str) -> None:
    assert post(api, provider, BODIES[provider]({"ls_vid": VISITOR})) == 200
    [message] = api.queued()
    [incoming] = decode(message["Body"])  # as the scorer reads it: the lead's, naming the visitor
    assert incoming.visitor == VISITOR and incoming.email
    [queued] = json.loads(message["Body"])["events"]
    assert queued["visitor"] == VISITOR
    assert "@" in queued["email"] and queued["type"] == "form_submit"
    assert queued["source"] == provider  # still untrusted (contract §3)
    stored = json.dumps({k: queued.get(k) for k in ("properties", "profile")})
    assert VISITOR not in stored and "ls_vid" not in stored


@pytest.mark.parametrize("provider", sorted(BODIES))
def test_without_a_valid_field_the_queued_event_names_no_visitor(api: Api, provider: str) -> None:
    assert post(api, provider, BODIES[provider]({})) == 200
    assert post(api, provider, BODIES[provider]({"ls_vid": "not a visitor"})) == 200
    first, second = api.queued_events()
    assert "visitor" not in first and first == second


def test_hubspot_crm_events_carry_no_visitor(api: Api) -> None:
    """HubSpot's webhooks name a contact by id, never by address: even the change of an
    `ls_vid` contact property links nothing (a HubSpot form reaches POST /v1/forms instead)."""
    change = [
        {
            "eventId": 7,
            "subscriptionId": 9,
            "portalId": 1,
            "occurredAt": 1767225600000,
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": 5,
            "propertyName": "ls_vid",
            "propertyValue": VISITOR,
        }
    ]
    assert post(api, "hubspot", json.dumps(change).encode()) == 200
    assert api.queued() == []
