"""The provider-webhook adapter: each platform's payload, signature, answer, and hostile input."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leadscore.adapters.webhooks import (
    PROVIDERS,
    EnvironmentSecrets,
    UnknownProvider,
    WebhookAuthError,
    WebhookError,
    WebhookFormatError,
    WebhookRequest,
    env_name,
    handle,
)
from leadscore.adapters.webhooks.payload import profile_field, profile_from_answers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
URL = "https://api.acme.test/v1/webhooks/"
BASIC = "crm-hooks:correct horse battery"
CONTENT_TYPES = {
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".form": "application/x-www-form-urlencoded",
}


def basic_auth(credentials: str = BASIC) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def request(
    provider: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    method: str = "POST",
    query: dict[str, str] | None = None,
    url: str | None = None,
) -> WebhookRequest:
    return WebhookRequest(provider, method, headers or {}, body, query or {}, url or URL + provider)


def fixture_request(provider: str) -> WebhookRequest:
    (path,) = FIXTURES.glob(f"{provider}.*")
    headers = {"Content-Type": CONTENT_TYPES[path.suffix], **basic_auth()}
    if provider == "resend":
        headers["svix-id"] = "msg_fixture1"
    return request(provider, path.read_bytes(), headers)


def basic_secrets(provider: str) -> dict[str, str]:
    return {f"basic:{provider}": BASIC}


# --- every platform: its own payload in, canonical events out ----------------------------------

# provider -> (scored events as (type, email, occurred_at, properties subset), ignored natives)
EXPECTED: dict[str, tuple[list[tuple[str, str, str, dict[str, Any]]], list[str]]] = {
    "sendgrid": (
        [
            ("email_delivered", "ada.lovelace@acme.test", "2026-01-01T00:01:00Z",
             {"provider_event_id": "sg-del-1", "message_id": "m1.filter01",
              "campaign": "m1.filter01"}),
            ("email_open", "ada.lovelace@acme.test", "2026-01-01T00:02:00Z",
             {"campaign": "4242", "machine_open": True}),
            ("email_click", "ada.lovelace@acme.test", "2026-01-01T00:03:00Z",
             {"url": "https://acme.test/pricing", "campaign": "4242"}),
            ("email_bounce", "grace@navy.test", "2026-01-01T00:04:00Z", {"bounce_kind": "block"}),
            ("email_unsubscribe", "grace@navy.test", "2026-01-01T00:05:00Z",
             {"native_event": "group_unsubscribe"}),
        ],
        ["processed"],
    ),
    "mailgun": (
        [("email_click", "linus@kernel.test", "2026-01-01T00:00:00.250000Z",
          {"url": "https://acme.test/demo", "campaign": "spring-launch",
           "provider_event_id": "mg-evt-1", "message_id": "20260101.abc@mg.acme.test"})],
        [],
    ),
    "mailchimp": (
        [("email_spam_complaint", "margaret@hamilton.test", "2026-01-02T09:30:00Z",
          {"campaign": "cmp42", "native_event": "unsubscribe"})],
        [],
    ),
    "mandrill": (
        [
            ("email_open", "alan@turing.test", "2026-01-01T00:00:00Z", {"message_id": "md-1"}),
            ("email_bounce", "alan@turing.test", "2026-01-01T00:01:40Z", {"bounce_kind": "soft"}),
        ],
        ["send"],
    ),
    "postmark": (
        [("email_click", "katherine@johnson.test", "2026-01-01T09:00:00.123456Z",
          {"url": "https://acme.test/case-study", "message_id": "pm-0001"})],
        [],
    ),
    "sparkpost": (
        [
            ("email_click", "barbara@liskov.test", "2026-01-01T00:00:00Z",
             {"url": "https://acme.test/webinar", "campaign": "webinar-jan", "message_id": "tx-1"}),
            ("email_bounce", "barbara@liskov.test", "2026-01-01T00:05:00Z",
             {"bounce_kind": "soft", "native_event": "out_of_band"}),
        ],
        [],
    ),
    "brevo": (
        [("email_open", "hedy@lamarr.test", "2026-01-01T00:00:00Z",
          {"machine_open": True, "campaign": "77"})],
        [],
    ),
    "mailjet": (
        [("email_click", "edsger@dijkstra.test", "2026-01-01T00:00:00Z",
          {"url": "https://acme.test/docs", "message_id": "1234567890123456789",
           "campaign": "1234567890123456789"})],
        ["blocked"],
    ),
    "ses": (
        [
            ("email_spam_complaint", "ada@acme.test", "2026-01-01T06:00:00Z",
             {"provider_event_id": "sns-msg-1", "message_id": "ses-msg-1"}),
            ("email_spam_complaint", "alan@turing.test", "2026-01-01T06:00:00Z",
             {"provider_event_id": "sns-msg-1"}),
        ],
        [],
    ),
    "resend": (
        [("email_click", "tim@berners-lee.test", "2026-01-01T12:00:00Z",
          {"url": "https://acme.test/signup", "provider_event_id": "msg_fixture1",
           "message_id": "rs-0001"})],
        [],
    ),
    "mailersend": (
        [("email_open", "ken@thompson.test", "2026-01-01T08:00:00Z",
          {"provider_event_id": "ms-evt-1", "message_id": "ms-msg-1"})],
        [],
    ),
    "mailtrap": (
        [("email_open", "radia@perlman.test", "2026-01-01T00:00:00Z",
          {"provider_event_id": "mt-evt-1"})],
        ["suspension"],
    ),
    "unisender_go": (
        [("email_click", "sophie@wilson.test", "2026-01-01T07:15:00Z",
          {"url": "https://acme.test/calculator", "message_id": "ug-job-1"})],
        ["transactional_spam_block"],
    ),
    "typeform": (
        [("form_submit", "annie.easley@nasa.test", "2026-01-01T09:00:00Z",
          {"form": "Book a demo", "form_id": "tfForm1", "utm_source": "linkedin",
           "provider_event_id": "tf-evt-1"})],
        [],
    ),
    "webflow": (
        [("form_submit", "frances@allen.test", "2026-01-01T10:30:00Z",
          {"form": "Contact sales", "provider_event_id": "wf-sub-1"})],
        [],
    ),
    "unbounce": (
        [("form_submit", "jean@sammet.test", "2026-01-01T15:04:00Z",
          {"form": "Demo request", "page_url": "https://try.acme.test/demo", "variant": "b"})],
        [],
    ),
    "hubspot": ([], ["contact.propertyChange"]),
}  # fmt: skip
PROFILES = {
    "typeform": {
        "first_name": "Annie",
        "last_name": "Easley",
        "company": "NASA",
        "company_size": 250,
        "job_title": "Engineer",
        "industry": "Aerospace",
    },
    "webflow": {"first_name": "Frances", "last_name": "Allen", "company": "Acme", "country": "US"},
    "unbounce": {"first_name": "Jean", "company": "Acme", "phone": "+1 555 0100"},
}


def test_every_platform_has_a_fixture_and_an_expectation() -> None:
    assert set(EXPECTED) == set(PROVIDERS)
    assert {path.stem for path in FIXTURES.iterdir()} == set(PROVIDERS)


@pytest.mark.parametrize("provider", sorted(EXPECTED))
def test_platform_payload_becomes_canonical_events(provider: str) -> None:
    result = handle(fixture_request(provider), basic_secrets(provider), NOW)

    scored, ignored = EXPECTED[provider]
    assert [(e["type"], e["email"], e["occurred_at"]) for e in result.events] == [
        (kind, email, at) for kind, email, at, _ in scored
    ]
    for event, (_, _, _, properties) in zip(result.events, scored, strict=True):
        assert event["properties"]["provider"] == provider
        assert properties.items() <= event["properties"].items()
        assert event.get("profile") == PROFILES.get(provider)
    assert [item.native_event for item in result.ignored] == ignored
    assert all(item.why for item in result.ignored)
    assert result.response.status == 200
    assert result.response.body == b""


@pytest.mark.parametrize("provider", sorted(EXPECTED))
def test_events_have_the_post_v1_events_shape(provider: str) -> None:
    for event in handle(fixture_request(provider), basic_secrets(provider), NOW).events:
        assert set(event) <= {"id", "email", "type", "occurred_at", "properties", "profile"}
        assert event["email"] == event["email"].strip().lower()
        assert event["occurred_at"].endswith("Z")
        assert datetime.fromisoformat(event["occurred_at"]).tzinfo is not None
        # What a model counts "once per email" by, or which form it was.
        needed = {"form"} if event["type"] == "form_submit" else {"campaign"}
        assert {"provider", "native_event", *needed} <= set(event["properties"])
        assert None not in event["properties"].values()
        json.dumps(event)  # storable as is


def test_a_click_without_a_link_is_not_given_the_preferences_url() -> None:
    result = handle(fixture_request("sendgrid"), basic_secrets("sendgrid"), NOW)
    unsubscribe = result.events[-1]
    assert unsubscribe["type"] == "email_unsubscribe"
    assert "url" not in unsubscribe["properties"]


def test_an_event_without_time_happens_now() -> None:
    body = json.dumps([{"msys": {"track_event": {"type": "open", "raw_rcpt_to": "a@b.test"}}}])
    result = handle(
        request("sparkpost", body.encode(), basic_auth()), basic_secrets("sparkpost"), NOW
    )
    assert result.events[0]["occurred_at"] == "2026-01-01T12:00:00Z"


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("First Name", "first_name"),
        ("What is your first name?", "first_name"),
        ("last_name", "last_name"),
        ("Name", "full_name"),
        ("Company size (employees)", "company_size"),
        ("Company name", "company"),
        ("How did you hear about our company?", None),
        ("Which industry are you in?", "industry"),
        ("Job Title", "job_title"),
        ("What is the title of your favourite book?", None),
        ("Phone Number", "phone"),
        ("Work email", None),
    ],
)
def test_form_labels_that_name_a_profile_field(label: str, key: str | None) -> None:
    assert profile_field(label) == key


def test_a_full_name_is_split_only_when_no_first_or_last_name_is_given() -> None:
    assert profile_from_answers([("Name", "Ada King Lovelace")]) == {
        "first_name": "Ada",
        "last_name": "King Lovelace",
    }
    assert profile_from_answers([("Name", "Ada Lovelace"), ("Last name", "King")]) == {
        "last_name": "King"
    }


# --- ids ------------------------------------------------------------------------------------


def test_a_retried_webhook_gives_the_same_ids() -> None:
    first = handle(fixture_request("sendgrid"), basic_secrets("sendgrid"), NOW)
    retry = handle(fixture_request("sendgrid"), basic_secrets("sendgrid"), NOW + timedelta(hours=3))
    assert [e["id"] for e in first.events] == [e["id"] for e in retry.events]


def test_a_retried_event_without_time_keeps_its_id() -> None:
    body = json.dumps([{"msys": {"track_event": {"type": "open", "raw_rcpt_to": "a@b.test"}}}])
    ids = [
        handle(
            request("sparkpost", body.encode(), basic_auth()), basic_secrets("sparkpost"), now
        ).events[0]["id"]
        for now in (NOW, NOW + timedelta(minutes=7))
    ]
    assert ids[0] == ids[1]


def test_events_sharing_a_placeholder_id_still_get_distinct_ids() -> None:
    # Docs samples reuse one sg_event_id for every event; SES sends one id for many recipients.
    same_id = [
        {"email": "a@b.test", "timestamp": 1767225600, "event": kind, "sg_event_id": "sg_event_id"}
        for kind in ("delivered", "open", "unsubscribe", "group_unsubscribe")
    ]
    same_id.append({**same_id[1], "email": "c@d.test"})
    same_id.append({**same_id[1], "timestamp": 1767225601})
    body = json.dumps(same_id).encode()
    result = handle(request("sendgrid", body, basic_auth()), basic_secrets("sendgrid"), NOW)
    ids = [event["id"] for event in result.events]
    assert len(ids) == len(set(ids)) == 6

    ses = handle(fixture_request("ses"), basic_secrets("ses"), NOW)
    assert len({event["id"] for event in ses.events}) == 2


# --- who may post ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(EXPECTED))
def test_no_secret_configured_means_no_request_is_trusted(provider: str) -> None:
    with pytest.raises(WebhookAuthError, match="no webhook secret"):
        handle(fixture_request(provider), {}, NOW)


def test_unsigned_requests_are_accepted_only_when_the_deployment_says_so() -> None:
    body = (FIXTURES / "postmark.json").read_bytes()
    result = handle(request("postmark", body), {"allow-unsigned:postmark": "true"}, NOW)
    assert len(result.events) == 1
    with pytest.raises(WebhookAuthError):
        handle(request("postmark", body), {"allow-unsigned:postmark": "yes please"}, NOW)


def test_wrong_basic_credentials_are_refused_with_a_challenge() -> None:
    body = (FIXTURES / "postmark.json").read_bytes()
    for headers in ({}, basic_auth("crm-hooks:wrong"), {"Authorization": "Basic %%%"}):
        with pytest.raises(WebhookAuthError) as refused:
            handle(request("postmark", body, headers), basic_secrets("postmark"), NOW)
        assert refused.value.challenge is not None
        assert refused.value.challenge.startswith("Basic ")
        assert refused.value.status == 401


def test_url_token_and_bearer_token() -> None:
    body = (FIXTURES / "mailchimp.form").read_bytes()
    secrets = {"token:mailchimp": "t0ps3cr3t"}
    assert handle(request("mailchimp", body, query={"token": "t0ps3cr3t"}), secrets, NOW).events
    with pytest.raises(WebhookAuthError):
        handle(request("mailchimp", body, query={"token": "guess"}), secrets, NOW)

    body = (FIXTURES / "brevo.json").read_bytes()
    secrets = {"bearer:brevo": "brevo-token"}
    good = {"Authorization": "Bearer brevo-token"}
    assert handle(request("brevo", body, good), secrets, NOW).events
    with pytest.raises(WebhookAuthError):
        handle(request("brevo", body, {"Authorization": "Bearer nope"}), secrets, NOW)


def test_every_configured_check_must_pass() -> None:
    body = (FIXTURES / "postmark.json").read_bytes()
    secrets = {"basic:postmark": BASIC, "token:postmark": "abc"}
    with pytest.raises(WebhookAuthError):
        handle(request("postmark", body, basic_auth()), secrets, NOW)
    both = request("postmark", body, basic_auth(), query={"token": "abc"})
    assert handle(both, secrets, NOW).events


def test_headers_are_case_insensitive() -> None:
    body = (FIXTURES / "postmark.json").read_bytes()
    headers = {"AUTHORIZATION": basic_auth()["Authorization"]}
    assert handle(request("postmark", body, headers), basic_secrets("postmark"), NOW).events


def test_secrets_from_the_environment() -> None:
    environ = {"LEADSCORE_WEBHOOK_BASIC_POSTMARK": BASIC, "LEADSCORE_WEBHOOK_UNISENDER_GO": ""}
    secrets = EnvironmentSecrets(environ)
    assert env_name("allow-unsigned:ses") == "LEADSCORE_WEBHOOK_ALLOW_UNSIGNED_SES"
    assert secrets.get("basic:postmark") == BASIC
    assert secrets.get("unisender_go") is None  # an empty variable is no secret
    assert handle(fixture_request("postmark"), secrets, NOW).events


# --- handshakes and answers -----------------------------------------------------------------


def test_url_validation_requests_are_answered_without_storing_anything() -> None:
    for provider, method in (("mailchimp", "GET"), ("mandrill", "HEAD"), ("unisender_go", "GET")):
        result = handle(request(provider, b"", method=method), {}, NOW)
        assert (result.events, result.ignored, result.response.status) == ([], [], 200)


def test_other_methods_are_refused() -> None:
    with pytest.raises(WebhookFormatError):
        handle(request("sendgrid", b"[]", method="GET"), basic_secrets("sendgrid"), NOW)


def test_unknown_provider() -> None:
    with pytest.raises(UnknownProvider) as unknown:
        handle(request("constantcontact", b"{}"), {}, NOW)
    assert unknown.value.status == 404


def test_sparkpost_ping_is_accepted_and_yields_nothing() -> None:
    result = handle(
        request("sparkpost", b'[{"msys": {}}]', basic_auth()), basic_secrets("sparkpost"), NOW
    )
    assert (result.events, result.ignored, result.response.status) == ([], [], 200)


# --- signatures, with keys made here ----------------------------------------------------------

SIGNED_AT = NOW - timedelta(seconds=30)
EPOCH_S = str(int(SIGNED_AT.timestamp()))
EPOCH_MS = str(int(SIGNED_AT.timestamp() * 1000))
SECRET = "s3cret-signing-key"
Signed = tuple[WebhookRequest, dict[str, str]]


def hmac_hex(key: str | bytes, message: bytes) -> str:
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def hmac_b64(key: str | bytes, message: bytes, digest: Any = hashlib.sha256) -> str:
    key = key.encode() if isinstance(key, str) else key
    return base64.b64encode(hmac.new(key, message, digest).digest()).decode()


def signed_sendgrid(body: bytes) -> Signed:
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = private.sign(EPOCH_S.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": EPOCH_S,
    }
    return request("sendgrid", body, headers), {"sendgrid": base64.b64encode(public).decode()}


def signed_mailgun(body: bytes) -> Signed:
    document = json.loads(body)
    token = "a" * 50
    document["signature"] = {
        "timestamp": EPOCH_S,
        "token": token,
        "signature": hmac_hex(SECRET, (EPOCH_S + token).encode()),
    }
    return request("mailgun", json.dumps(document).encode()), {"mailgun": SECRET}


def signed_mandrill(body: bytes) -> Signed:
    configured = "https://hooks.acme.test/mandrill?x=1"
    events = dict(urllib.parse.parse_qsl(body.decode()))["mandrill_events"]
    signature = hmac_b64(SECRET, (configured + "mandrill_events" + events).encode(), hashlib.sha1)
    headers = {"X-Mandrill-Signature": signature, "Content-Type": CONTENT_TYPES[".form"]}
    # API Gateway sees another host than the one configured in Mandrill: url:mandrill says which.
    return request("mandrill", body, headers), {"mandrill": SECRET, "url:mandrill": configured}


def signed_resend(body: bytes) -> Signed:
    key = b"resend-test-key-0123456789abcdef"
    signature = hmac_b64(key, f"msg_1.{EPOCH_S}.".encode() + body)
    headers = {
        "svix-id": "msg_1",
        "svix-timestamp": EPOCH_S,
        "svix-signature": f"v1,{base64.b64encode(b'old-secret').decode()} v1,{signature}",
    }
    return request("resend", body, headers), {"resend": "whsec_" + base64.b64encode(key).decode()}


def signed_mailersend(body: bytes) -> Signed:
    return request("mailersend", body, {"Signature": hmac_hex(SECRET, body)}), {
        "mailersend": SECRET
    }


def signed_mailtrap(body: bytes) -> Signed:
    headers = {"Mailtrap-Signature": hmac_hex(SECRET, body)}
    return request("mailtrap", body, headers), {"mailtrap": SECRET}


def signed_unisender_go(body: bytes) -> Signed:
    placeholder = b"00000000000000000000000000000000"
    auth = hashlib.md5(body.replace(placeholder, SECRET.encode())).hexdigest()
    return request("unisender_go", body.replace(placeholder, auth.encode())), {
        "unisender_go": SECRET
    }


def signed_typeform(body: bytes) -> Signed:
    headers = {"Typeform-Signature": "sha256=" + hmac_b64(SECRET, body)}
    return request("typeform", body, headers), {"typeform": SECRET}


def signed_webflow(body: bytes) -> Signed:
    headers = {
        "x-webflow-timestamp": EPOCH_MS,
        "x-webflow-signature": hmac_hex(SECRET, EPOCH_MS.encode() + b":" + body),
    }
    return request("webflow", body, headers), {"webflow": SECRET}


def signed_hubspot_v1(body: bytes) -> Signed:
    headers = {
        "X-HubSpot-Signature": hashlib.sha256(SECRET.encode() + body).hexdigest(),
        "X-HubSpot-Signature-Version": "v1",
    }
    return request("hubspot", body, headers), {"hubspot": SECRET}


def signed_hubspot_v2(body: bytes) -> Signed:
    url = "https://api.acme.test/v1/webhooks/hubspot?portal=1"
    signed = SECRET.encode() + b"POST" + url.encode() + body
    headers = {
        "X-HubSpot-Signature": hashlib.sha256(signed).hexdigest(),
        "X-HubSpot-Signature-Version": "v2",
    }
    return request("hubspot", body, headers, url=url), {"hubspot": SECRET}


def signed_hubspot_v3(body: bytes) -> Signed:
    url = "https://api.acme.test/v1/webhooks/hubspot?next=%2Fhome%3Fa%3Db"
    # HubSpot decodes a listed few (%2F, %3F...) before signing, and leaves "=" (%3D) encoded.
    decoded = "https://api.acme.test/v1/webhooks/hubspot?next=/home?a%3Db"
    signature = hmac_b64(SECRET, b"POST" + decoded.encode() + body + EPOCH_MS.encode())
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": EPOCH_MS}
    return request("hubspot", body, headers, url=url), {"hubspot": SECRET}


class SnsSigner:
    """An RSA key and a self-signed certificate standing in for Amazon SNS's."""

    CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
    TOPIC = "arn:aws:sns:eu-west-1:111122223333:ses-events"

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        self.pem = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(1)
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=1))
            .sign(self.key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )
        self.fetched: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.pem

    def sign(self, envelope: dict[str, Any], version: str = "2") -> bytes:
        envelope = {**envelope, "SignatureVersion": version, "SigningCertURL": self.CERT_URL}
        names = (
            ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
            if envelope["Type"] == "Notification"
            else ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
        )
        signed = "".join(f"{n}\n{envelope[n]}\n" for n in names if n in envelope).encode()
        digest = hashes.SHA256() if version == "2" else hashes.SHA1()
        signature = self.key.sign(signed, padding.PKCS1v15(), digest)
        envelope["Signature"] = base64.b64encode(signature).decode()
        return json.dumps(envelope).encode()


def ses_envelope() -> dict[str, Any]:
    envelope = json.loads((FIXTURES / "ses.json").read_bytes())
    return {**envelope, "Timestamp": SIGNED_AT.isoformat().replace("+00:00", "Z")}


SIGNERS: dict[str, Callable[[bytes], Signed]] = {
    "sendgrid": signed_sendgrid,
    "mailgun": signed_mailgun,
    "mandrill": signed_mandrill,
    "resend": signed_resend,
    "mailersend": signed_mailersend,
    "mailtrap": signed_mailtrap,
    "unisender_go": signed_unisender_go,
    "typeform": signed_typeform,
    "webflow": signed_webflow,
    "hubspot_v1": signed_hubspot_v1,
    "hubspot_v2": signed_hubspot_v2,
    "hubspot_v3": signed_hubspot_v3,
}
TIMESTAMPED = {"sendgrid", "mailgun", "resend", "webflow", "hubspot_v3"}
BODY_SIGNED = {"mailgun", "unisender_go"}  # their requests carry no header to spoil


def signed(case: str) -> Signed:
    provider = case.removesuffix("_v1").removesuffix("_v2").removesuffix("_v3")
    (path,) = FIXTURES.glob(f"{provider}.*")
    return SIGNERS[case](path.read_bytes())


def tampered(original: WebhookRequest) -> WebhookRequest:
    body = original.body
    if original.provider == "mailgun":
        body = body.replace(b'"aaaa', b'"baaa', 1)  # Mailgun signs the token, not the events
    elif original.provider == "mandrill":
        body = body.replace(b"alan%40turing.test", b"eve%40turing.test")
    else:
        body = body[:1] + b" " + body[1:]  # still valid JSON, no longer the signed bytes
    return WebhookRequest(
        original.provider, "POST", original.headers, body, original.query, original.url
    )


@pytest.mark.parametrize("case", sorted(SIGNERS))
def test_signed_request_verifies(case: str) -> None:
    signed_request, secrets = signed(case)
    result = handle(signed_request, secrets, NOW)
    provider = signed_request.provider
    assert len(result.events) == len(EXPECTED[provider][0])


@pytest.mark.parametrize("case", sorted(SIGNERS))
def test_tampered_request_is_refused(case: str) -> None:
    signed_request, secrets = signed(case)
    with pytest.raises(WebhookAuthError):
        handle(tampered(signed_request), secrets, NOW)


@pytest.mark.parametrize("case", sorted(SIGNERS))
def test_another_key_is_refused(case: str) -> None:
    signed_request, secrets = signed(case)
    provider = signed_request.provider
    if provider == "sendgrid":
        other_key = signed_sendgrid(b"[]")[1]["sendgrid"]  # a fresh, unrelated key pair
    else:
        other_key = "whsec_" + base64.b64encode(b"another-secret").decode()
    with pytest.raises(WebhookAuthError):
        handle(signed_request, {**secrets, provider: other_key}, NOW)


@pytest.mark.parametrize("case", sorted(TIMESTAMPED))
def test_stale_signed_timestamp_is_refused(case: str) -> None:
    signed_request, secrets = signed(case)
    assert handle(signed_request, secrets, NOW + timedelta(minutes=4))
    with pytest.raises(WebhookAuthError, match="timestamp"):
        handle(signed_request, secrets, NOW + timedelta(hours=9))
    with pytest.raises(WebhookAuthError, match="timestamp"):
        handle(signed_request, secrets, NOW - timedelta(hours=9))


def test_replay_window_is_five_minutes_where_the_platform_signs_each_attempt() -> None:
    for case in ("sendgrid", "resend", "webflow", "hubspot_v3"):
        signed_request, secrets = signed(case)
        with pytest.raises(WebhookAuthError, match="timestamp"):
            handle(signed_request, secrets, NOW + timedelta(minutes=6))


def test_mailgun_retries_keep_their_signature_for_hours() -> None:
    signed_request, secrets = signed("mailgun")
    assert handle(signed_request, secrets, NOW + timedelta(hours=8)).events


def test_a_missing_signature_is_refused() -> None:
    for case in SIGNERS:
        signed_request, secrets = signed(case)
        bare = WebhookRequest(signed_request.provider, "POST", {}, signed_request.body)
        if case in {"mailgun", "unisender_go"}:  # these sign inside the body
            continue
        with pytest.raises(WebhookAuthError):
            handle(bare, secrets, NOW)


def test_sendgrid_accepts_a_pem_key_and_refuses_an_unreadable_one() -> None:
    signed_request, secrets = signed("sendgrid")
    der = base64.b64decode(secrets["sendgrid"])
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert handle(signed_request, {"sendgrid": pem.decode()}, NOW).events
    with pytest.raises(WebhookAuthError, match="verification key"):
        handle(signed_request, {"sendgrid": "not a key"}, NOW)


# --- Amazon SES through SNS -------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_notification_with_a_valid_sns_signature(version: str) -> None:
    sns = SnsSigner()
    body = sns.sign(ses_envelope(), version)
    secrets = {"ses": f"arn:aws:sns:us-east-1:1:other, {SnsSigner.TOPIC}"}
    result = handle(request("ses", body), secrets, NOW, fetch_certificate=sns.fetch)
    assert [e["email"] for e in result.events] == ["ada@acme.test", "alan@turing.test"]
    assert sns.fetched == [SnsSigner.CERT_URL]


def test_ses_refuses_forged_stale_foreign_and_unfetchable_messages() -> None:
    sns = SnsSigner()
    secrets = {"ses": SnsSigner.TOPIC}
    body = sns.sign(ses_envelope())

    forged = body.replace(b"ada@acme.test", b"eve@acme.test")
    with pytest.raises(WebhookAuthError, match="signature"):
        handle(request("ses", forged), secrets, NOW, fetch_certificate=sns.fetch)
    with pytest.raises(WebhookAuthError, match="too old"):
        handle(request("ses", body), secrets, NOW + timedelta(hours=9), fetch_certificate=sns.fetch)
    with pytest.raises(WebhookAuthError, match="topic"):
        handle(
            request("ses", body),
            {"ses": "arn:aws:sns:eu-west-1:1:x"},
            NOW,
            fetch_certificate=sns.fetch,
        )
    with pytest.raises(WebhookAuthError, match="certificate source"):
        handle(request("ses", body), secrets, NOW)

    def unreachable(url: str) -> bytes:
        raise OSError("network down")

    with pytest.raises(WebhookAuthError, match="certificate is unavailable"):
        handle(request("ses", body), secrets, NOW, fetch_certificate=unreachable)


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://sns.eu-west-1.amazonaws.com.evil.test/cert.pem",
        "http://sns.eu-west-1.amazonaws.com/cert.pem",
        "https://evil.test/sns.eu-west-1.amazonaws.com/cert.pem",
        "https://user@sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com/cert.txt",
    ],
)
def test_ses_never_fetches_a_certificate_outside_amazon_sns(cert_url: str) -> None:
    sns = SnsSigner()
    envelope = json.loads(sns.sign(ses_envelope()))
    envelope["SigningCertURL"] = cert_url
    body = json.dumps(envelope).encode()
    with pytest.raises(WebhookAuthError):
        handle(request("ses", body), {"ses": SnsSigner.TOPIC}, NOW, fetch_certificate=sns.fetch)
    assert sns.fetched == []


def test_ses_subscription_confirmation_is_left_to_the_caller() -> None:
    sns = SnsSigner()
    confirm = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=abc"
    envelope = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m-1",
        "Token": "abc",
        "TopicArn": SnsSigner.TOPIC,
        "Message": "You have chosen to subscribe...",
        "SubscribeURL": confirm,
        "Timestamp": SIGNED_AT.isoformat().replace("+00:00", "Z"),
    }
    body = sns.sign(envelope)
    result = handle(
        request("ses", body), {"ses": SnsSigner.TOPIC}, NOW, fetch_certificate=sns.fetch
    )
    assert (result.events, result.ignored, result.confirm_url) == ([], [], confirm)

    envelope["SubscribeURL"] = "https://attacker.test/collect"
    with pytest.raises(WebhookAuthError):
        handle(request("ses", json.dumps(envelope).encode()), {"allow-unsigned:ses": "true"}, NOW)


def test_ses_raw_delivery_has_no_signature_to_check() -> None:
    raw = json.loads(json.loads((FIXTURES / "ses.json").read_bytes())["Message"])
    body = json.dumps(raw).encode()
    with pytest.raises(WebhookAuthError):
        handle(
            request("ses", body), {"ses": SnsSigner.TOPIC}, NOW, fetch_certificate=SnsSigner().fetch
        )
    result = handle(request("ses", body, basic_auth()), basic_secrets("ses"), NOW)
    assert [e["email"] for e in result.events] == ["ada@acme.test", "alan@turing.test"]
    assert "provider_event_id" not in result.events[0]["properties"]


def test_ses_raw_delivery_of_something_else_is_a_format_error() -> None:
    with pytest.raises(WebhookFormatError):
        handle(request("ses", b'{"hello": "world"}', basic_auth()), basic_secrets("ses"), NOW)


# --- hostile input: only WebhookFormatError / WebhookAuthError, ever ------------------------------

HOSTILE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def unsigned(provider: str) -> dict[str, str]:
    return {f"allow-unsigned:{provider}": "true"}


def only_webhook_errors(
    provider: str, body: bytes, secrets: dict[str, str], **headers: str
) -> None:
    try:
        result = handle(request(provider, body, headers), secrets, NOW)
    except WebhookError:
        return
    for event in result.events:
        json.dumps(event)


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
@HOSTILE
@given(body=st.binary(max_size=300))
def test_random_bytes(provider: str, body: bytes) -> None:
    only_webhook_errors(provider, body, unsigned(provider))
    # With a signing key configured, the signature check reads the same hostile body first.
    only_webhook_errors(provider, body, {provider: "c2lnbmluZy1rZXk="}, **{"svix-id": "m"})


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
@HOSTILE
@given(document=JSON_VALUES)
def test_wrong_json_shapes(provider: str, document: Any) -> None:
    body = json.dumps(document).encode()
    only_webhook_errors(provider, body, unsigned(provider))
    form = urllib.parse.urlencode({"mandrill_events": body, "data.json": body, "type": "cleaned"})
    only_webhook_errors(provider, form.encode(), unsigned(provider))


def json_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += json_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += json_paths(item, (*path, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


JSON_FIXTURES = sorted(p.stem for p in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("provider", JSON_FIXTURES)
@HOSTILE
@given(data=st.data())
def test_a_fixture_with_any_field_replaced(provider: str, data: st.DataObject) -> None:
    document = json.loads((FIXTURES / f"{provider}.json").read_bytes())
    path = data.draw(st.sampled_from(json_paths(document)))
    value = data.draw(JSON_VALUES)
    body = json.dumps(replaced(document, path, value)).encode()
    only_webhook_errors(provider, body, unsigned(provider), **{"svix-id": "msg_x"})


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_pathological_bodies(provider: str) -> None:
    secrets = unsigned(provider)
    for body in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'[{"timestamp": 1' + b"0" * 5000 + b', "email": "a@b.test", "event": "open"}]',
        b'[{"timestamp": 1e999999, "email": "a@b.test", "event": "open"}]',
        b'[{"timestamp": NaN, "event": "open"}]',
        '[{"email": "\udcff@x"}]'.encode("utf-8", "surrogatepass"),
        b"\xff\xfe\x00{",
        b"",
    ):
        only_webhook_errors(provider, body, secrets)
    only_webhook_errors(
        provider, b"--x\r\nContent-Disposition: form-data\r\n\r\n" * 1000, secrets,
        **{"Content-Type": "multipart/form-data; boundary=x"},
    )  # fmt: skip


def test_a_body_over_the_size_limit_is_refused_before_anything_else() -> None:
    with pytest.raises(WebhookFormatError, match="larger"):
        handle(request("sendgrid", b" " * (6 * 1024 * 1024 + 1)), {}, NOW)


@pytest.mark.parametrize("case", sorted(set(SIGNERS) - BODY_SIGNED))
@HOSTILE
@given(junk=st.text(max_size=80))
def test_signature_checks_survive_junk_headers(case: str, junk: str) -> None:
    signed_request, secrets = signed(case)
    headers = dict.fromkeys(signed_request.headers, junk)
    junk_request = WebhookRequest(signed_request.provider, "POST", headers, signed_request.body)
    with pytest.raises(WebhookAuthError):
        handle(junk_request, secrets, NOW)
