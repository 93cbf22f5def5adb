"""Replays of signed webhook deliveries: a delivery id the platform signed is taken once.

The issue's attack: Mailgun signs only a timestamp and a token, so a captured signature block
carried forged `complained` and `unsubscribed` events for 8.5 hours. Now the block is taken
once; a retry of a delivery that was not taken (the queue failed) is still taken.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from leadscore.adapters.memory_replays import MemoryReplays
from leadscore.api.app import build
from leadscore.api.deps import Dependencies
from leadscore.domain.events import Event

from tests.conftest import ROOT, LambdaContext
from tests.integration.api_client import Answer, proxy_event
from tests.unit.test_webhooks import SnsSigner, ses_envelope

SIGNED_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MAILGUN_KEY = "mailgun-signing-key"
RESEND_KEY = b"resend-test-key-0123456789abcdef"
PROBLEM = "application/problem+json"
VP = "vp@buyer.test"


class FlakyQueue:
    """The scoring queue: what it was sent, kept; `failures` sends fail first."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Event]] = []
        self.failures = 0

    def send(self, entries: list[tuple[str, Event]], received_at: datetime) -> int:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("SQS is unavailable")
        self.sent += [(entry[0], entry[1]) for entry in entries]  # (email, event) of each
        return len(entries)

    def types(self) -> list[str]:
        return [event.type for _, event in self.sent]


class Api:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.queue = FlakyQueue()
        self.replays = MemoryReplays()
        self.now = SIGNED_AT + timedelta(seconds=3)
        self.sns = SnsSigner()
        deps = Dependencies(
            queue=self.queue,
            secrets=secrets,
            replays=self.replays,
            clock=lambda: self.now,
            fetch_certificate=self.sns.fetch,
        )
        self.app: APIGatewayRestResolver = build(deps)

    def post(self, provider: str, body: bytes, **headers: str) -> Answer:
        headers.setdefault("Content-Type", "application/json")
        event = proxy_event("POST", f"/v1/webhooks/{provider}", body, headers)
        answer = self.app.resolve(event, LambdaContext())
        found = dict(answer.get("headers") or {})
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            found[name] = values[-1]
        return Answer(answer["statusCode"], found, answer["body"])


@pytest.fixture
def api() -> Api:
    return Api(
        {
            "mailgun": MAILGUN_KEY,
            "resend": "whsec_" + base64.b64encode(RESEND_KEY).decode(),
            "ses": SnsSigner.TOPIC,
        }
    )


# --- Mailgun: timestamp and token signed, the event data not ---------------------------------


def mailgun_block(token: str, timestamp: str | None = None) -> dict[str, str]:
    timestamp = timestamp or str(int(SIGNED_AT.timestamp()))
    signature = hmac.new(MAILGUN_KEY.encode(), (timestamp + token).encode(), hashlib.sha256)
    return {"timestamp": timestamp, "token": token, "signature": signature.hexdigest()}


def mailgun_body(block: dict[str, str], event: str, event_id: str) -> bytes:
    data = {
        "id": event_id,
        "event": event,
        "timestamp": SIGNED_AT.timestamp(),
        "recipient": VP,
        "message": {"headers": {"message-id": "m-1@mg.acme.test"}},
    }
    return json.dumps({"signature": block, "event-data": data}).encode()


def refused(answer: Answer, status: int) -> None:
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == PROBLEM
    assert "already taken" in json.loads(answer.body)["detail"]


def test_a_captured_mailgun_signature_carries_no_forged_event(api: Api) -> None:
    block = mailgun_block("e0b5477167110d68991efc6b9f89f0a11066af27834600e123")
    assert api.post("mailgun", mailgun_body(block, "opened", "ev-1")).status == 200
    assert api.queue.types() == ["email_open"]

    # The same signature block, minutes later, with the attacker's events: refused with the
    # status Mailgun reads as "rejected, do not retry", and nothing is enqueued.
    api.now += timedelta(minutes=20)
    for forged, event_id in (("complained", "forged-1"), ("unsubscribed", "forged-2")):
        refused(api.post("mailgun", mailgun_body(block, forged, event_id)), 406)
    assert api.queue.types() == ["email_open"]


def test_the_same_signature_split_differently_is_the_same_delivery(api: Api) -> None:
    """Timestamp and token are signed with no separator between them: the token's first
    characters moved into the timestamp ("1767268800e0" is a number) keep the signature."""
    block = mailgun_block("e0b5477167110d68991efc6b9f89f0a11066af27834600e123")
    assert api.post("mailgun", mailgun_body(block, "delivered", "ev-1")).status == 200
    shifted = {
        **block,
        "timestamp": block["timestamp"] + block["token"][:2],
        "token": block["token"][2:],
    }
    refused(api.post("mailgun", mailgun_body(shifted, "complained", "forged")), 406)
    assert api.queue.types() == ["email_delivered"]


def test_a_retry_of_a_delivery_not_taken_is_taken(api: Api) -> None:
    """Mailgun retries a failed delivery with its original signature block."""
    body = mailgun_body(mailgun_block("t" * 50), "unsubscribed", "ev-1")
    api.queue.failures = 1
    failed = api.post("mailgun", body)
    assert failed.status == 500 and api.queue.sent == []
    api.now += timedelta(minutes=5)
    assert api.post("mailgun", body).status == 200
    assert api.queue.types() == ["email_unsubscribe"]
    # ... and once taken, it is not taken again.
    refused(api.post("mailgun", body), 406)
    assert api.queue.types() == ["email_unsubscribe"]


def test_deliveries_are_independent(api: Api) -> None:
    for n in range(3):
        block = mailgun_block(f"token-{n}" + "x" * 43)
        assert api.post("mailgun", mailgun_body(block, "clicked", f"ev-{n}")).status == 200
    assert api.queue.types() == ["email_click"] * 3


def test_a_delivery_is_remembered_until_its_signature_expires(api: Api) -> None:
    block = mailgun_block("w" * 50)
    assert api.post("mailgun", mailgun_body(block, "opened", "ev-1")).status == 200
    # Remembered for the whole time Mailgun's signature is accepted (8.5 hours).
    [(scope, token)] = api.replays.seen
    assert scope == "mailgun" and token == block["timestamp"] + block["token"]
    assert api.replays.seen[scope, token] == SIGNED_AT.timestamp() + 8.5 * 3600
    api.now = SIGNED_AT + timedelta(hours=8, minutes=29)
    refused(api.post("mailgun", mailgun_body(block, "complained", "forged")), 406)
    # After it, the signature itself is stale: refused as before, by the signature check.
    api.now = SIGNED_AT + timedelta(hours=8, minutes=31)
    stale = api.post("mailgun", mailgun_body(block, "complained", "forged"))
    assert stale.status == 401 and "too old" in stale.body
    assert api.queue.types() == ["email_open"]


def test_a_refused_signature_records_nothing(api: Api) -> None:
    block = {**mailgun_block("r" * 50), "signature": "0" * 64}
    assert api.post("mailgun", mailgun_body(block, "opened", "ev-1")).status == 401
    assert api.replays.seen == {}
    # The genuine delivery with that token is still taken.
    genuine = mailgun_block("r" * 50)
    assert api.post("mailgun", mailgun_body(genuine, "opened", "ev-1")).status == 200


def test_an_unreadable_payload_records_nothing(api: Api) -> None:
    block = mailgun_block("u" * 50)
    broken = json.dumps({"signature": block, "event-data": "nope"}).encode()
    assert api.post("mailgun", broken).status == 400
    assert api.post("mailgun", mailgun_body(block, "opened", "ev-1")).status == 200


def test_a_delivery_with_nothing_to_score_is_taken_too(api: Api) -> None:
    """A captured `accepted` (ignored) block cannot be reused for a scored event either."""
    block = mailgun_block("n" * 50)
    assert api.post("mailgun", mailgun_body(block, "accepted", "ev-1")).status == 200
    assert api.queue.sent == []
    refused(api.post("mailgun", mailgun_body(block, "complained", "forged")), 406)
    assert api.queue.sent == []


# --- Resend (Svix): svix-id, timestamp and body signed ----------------------------------------


def resend_post(api: Api, message_id: str, timestamp: datetime) -> Answer:
    body = json.dumps(
        {
            "type": "email.opened",
            "created_at": timestamp.isoformat(),
            "data": {"email_id": "e-1", "to": [VP]},
        }
    ).encode()
    stamp = str(int(timestamp.timestamp()))
    signed = f"{message_id}.{stamp}.".encode() + body
    signature = base64.b64encode(hmac.new(RESEND_KEY, signed, hashlib.sha256).digest()).decode()
    return api.post(
        "resend",
        body,
        **{"svix-id": message_id, "svix-timestamp": stamp, "svix-signature": f"v1,{signature}"},
    )


def test_a_resend_delivery_is_taken_once(api: Api) -> None:
    assert resend_post(api, "msg_1", SIGNED_AT).status == 200
    api.now += timedelta(minutes=1)
    refused(resend_post(api, "msg_1", SIGNED_AT), 401)
    assert resend_post(api, "msg_2", SIGNED_AT).status == 200
    assert api.queue.types() == ["email_open", "email_open"]
    assert api.replays.seen["resend", "msg_1"] == SIGNED_AT.timestamp() + 300


def test_a_resend_retry_of_a_delivery_not_taken_is_taken(api: Api) -> None:
    api.queue.failures = 1
    assert resend_post(api, "msg_1", SIGNED_AT).status == 500
    # Svix signs every attempt anew: the same id, a new timestamp.
    api.now += timedelta(seconds=5)
    assert resend_post(api, "msg_1", SIGNED_AT + timedelta(seconds=5)).status == 200
    assert api.queue.types() == ["email_open"]


# --- Amazon SES over SNS: MessageId and Timestamp signed --------------------------------------


def test_an_sns_message_is_taken_once(api: Api) -> None:
    envelope = {**ses_envelope(), "Timestamp": SIGNED_AT.isoformat().replace("+00:00", "Z")}
    body = api.sns.sign(envelope)
    assert api.post("ses", body, **{"Content-Type": "text/plain"}).status == 200
    taken = len(api.queue.sent)
    assert taken > 0
    api.now += timedelta(minutes=30)
    refused(api.post("ses", body, **{"Content-Type": "text/plain"}), 401)
    assert len(api.queue.sent) == taken
    assert api.replays.seen["ses", envelope["MessageId"]] == SIGNED_AT.timestamp() + 8 * 3600


def test_a_platform_without_a_signed_delivery_id_is_unchanged() -> None:
    """Postmark (HTTP Basic, no id signed): the same request twice is taken twice; the
    scorer's event ids make the second one change nothing."""
    credentials = "hooks:correct horse"
    api = Api({"basic:postmark": credentials})
    body = (ROOT / "tests" / "fixtures" / "webhooks" / "postmark.json").read_bytes()
    auth = "Basic " + base64.b64encode(credentials.encode()).decode()
    for _ in range(2):
        assert api.post("postmark", body, Authorization=auth).status == 200
    assert api.queue.types() == ["email_click", "email_click"]
    assert api.replays.seen == {}


# --- the guard's own answers ------------------------------------------------------------------


def test_memory_guard_answers() -> None:
    guard = MemoryReplays()
    assert guard.first_use("p", "t", until=100, now=50)
    assert not guard.first_use("p", "t", until=100, now=100)  # valid to its last second
    assert guard.first_use("p", "other", until=100, now=50)
    assert guard.first_use("q", "t", until=100, now=50)  # scopes are apart
    assert guard.first_use("p", "t", until=200, now=101)  # expired: a new first use
    guard.forget("p", "t", until=100)  # not the record it made: kept
    assert not guard.first_use("p", "t", until=200, now=150)
    guard.forget("p", "t", until=200)
    assert guard.first_use("p", "t", until=200, now=150)
