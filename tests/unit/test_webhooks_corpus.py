"""Every sample in the shared webhook corpus yields exactly the events its .meta.json expects,
and every sample signed with a published key verifies with it (and fails once tampered)."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from leadscore.adapters.webhooks import WebhookAuthError, WebhookRequest, handle
from leadscore.adapters.webhooks.payload import epoch_time
from leadscore.domain.emails import EmailError, normalize_email

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "webhook-samples"
pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no webhook corpus at {CORPUS}"),
]
# The corpus's event_type -> the canonical type.
TYPES = {
    "delivered": "email_delivered",
    "open": "email_open",
    "click": "email_click",
    "bounce": "email_bounce",
    "unsubscribe": "email_unsubscribe",
    "spam_complaint": "email_spam_complaint",
    "form_submit": "form_submit",
}
# The corpus keeps each platform's bounce wording; the adapter says hard/soft/block/...
BOUNCE_KINDS = {"bounce": "hard", "invalid": "hard"}
UNSIGNED_NOW = datetime(2026, 1, 1, tzinfo=UTC)
BASIC = "corpus:replay"


@dataclass(frozen=True)
class Sample:
    platform: str
    name: str
    body: bytes
    meta: dict[str, Any]

    @property
    def signature(self) -> dict[str, Any]:
        return self.meta.get("signature") or {}

    @property
    def key(self) -> str | None:
        """The published key it was signed with, when it verifies with one."""
        if self.signature.get("valid") is not True:
            return None
        return self.signature.get("key") or self.signature.get("public_key_b64_der")

    def request(self, body: bytes | None = None, **headers: str) -> WebhookRequest:
        return WebhookRequest(
            self.platform,
            "POST",
            {"Content-Type": self.meta["content_type"], **self.meta.get("headers", {}), **headers},
            self.body if body is None else body,
            {},
            self.signature.get("signed_url", f"https://api.test/v1/webhooks/{self.platform}"),
        )

    def signed_secrets(self) -> dict[str, str]:
        secrets = {self.platform: str(self.key)}
        if "signed_url" in self.signature:
            secrets[f"url:{self.platform}"] = self.signature["signed_url"]
        return secrets

    def signed_at(self) -> datetime | None:
        """When the signature says the request was sent, where a timestamp is signed."""
        headers = {k.lower(): v for k, v in self.meta.get("headers", {}).items()}
        for name in (
            "x-twilio-email-event-webhook-timestamp",
            "svix-timestamp",
            "x-webflow-timestamp",
            "x-hubspot-request-timestamp",
        ):
            if name in headers:
                return epoch_time(headers[name])
        if self.platform == "mailgun":
            if self.meta["content_type"].endswith("json"):
                return epoch_time(json.loads(self.body)["signature"]["timestamp"])
            return epoch_time(dict(urllib.parse.parse_qsl(self.body.decode()))["timestamp"])
        return None


def load_samples() -> list[Sample]:
    samples = []
    for meta_path in sorted(CORPUS.glob("*/*.meta.json")):
        stem = meta_path.name.removesuffix(".meta.json")
        (body_path,) = (
            p for p in meta_path.parent.glob(f"{stem}.*") if not p.name.endswith(".meta.json")
        )
        meta = json.loads(meta_path.read_text())
        samples.append(Sample(meta_path.parent.name, stem, body_path.read_bytes(), meta))
    return samples


SAMPLES = load_samples() if CORPUS.is_dir() else []
SIGNED = [s for s in SAMPLES if s.key]
TIMESTAMPED = [s for s in SIGNED if s.signed_at()]


def sample_id(sample: Sample) -> str:
    return f"{sample.platform}/{sample.name}"


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def address(email: Any) -> str | None:
    """What the one email rule makes of a sample's address; None when no lead can have it."""
    try:
        return normalize_email(email)
    except EmailError:
        return None


def usable(email: Any) -> bool:
    return address(email) is not None


def is_scored(expected: dict[str, Any]) -> bool:
    return expected["event_type"] != "other" and bool(expected["email"])


def check_events(
    events: list[dict[str, Any]], sample: Sample, usable: Callable[[str], bool] = usable
) -> None:
    """The canonical events made from a sample are exactly those its .meta.json expects
    (of those whose address is `usable`)."""
    scored = [e for e in sample.meta["expected"] if is_scored(e) and usable(e["email"])]
    assert len(events) == len(scored), [e["properties"] for e in events]
    for event, wanted in zip(events, scored, strict=True):
        properties = event["properties"]
        assert event["type"] == TYPES[wanted["event_type"]]
        assert event["email"] == address(wanted["email"])
        assert properties["native_event"] == wanted["native_event"]
        assert properties.get("provider_event_id") == wanted["provider_event_id"]
        if wanted["timestamp_utc"] is not None:
            assert utc(event["occurred_at"]) == utc(wanted["timestamp_utc"])
        if wanted["url"] is not None:
            assert properties["url"] == wanted["url"]
        if "bounce_kind" in wanted:
            kind = wanted["bounce_kind"]
            assert properties["bounce_kind"] == BOUNCE_KINDS.get(kind, kind)


@pytest.mark.parametrize("sample", SAMPLES, ids=sample_id)
def test_sample_yields_the_expected_events(sample: Sample) -> None:
    # Replayed with HTTP Basic auth: these samples' own signatures are checked below.
    authorization = "Basic " + base64.b64encode(BASIC.encode()).decode()
    result = handle(
        sample.request(Authorization=authorization),
        {f"basic:{sample.platform}": BASIC},
        UNSIGNED_NOW,
    )

    expected = sample.meta["expected"]
    check_events(result.events, sample)

    # `other` events, and events without a usable address, are reported but never scored.
    unscored = [e for e in expected if not is_scored(e) or not usable(e["email"])]
    assert [(i.native_event, i.email, i.provider_event_id) for i in result.ignored] == [
        (e["native_event"], address(e["email"]), e["provider_event_id"]) for e in unscored
    ]
    assert result.response.status == 200


@pytest.mark.parametrize("sample", SIGNED, ids=sample_id)
def test_signed_sample_verifies_with_its_published_key(sample: Sample) -> None:
    now = sample.signed_at() or UNSIGNED_NOW
    result = handle(sample.request(), sample.signed_secrets(), now)
    assert len(result.events) == len([e for e in sample.meta["expected"] if is_scored(e)])


@pytest.mark.parametrize("sample", SIGNED, ids=sample_id)
def test_tampered_signed_sample_is_refused(sample: Sample) -> None:
    now = sample.signed_at() or UNSIGNED_NOW
    with pytest.raises(WebhookAuthError):
        handle(sample.request(tamper(sample)), sample.signed_secrets(), now)


@pytest.mark.parametrize("sample", TIMESTAMPED, ids=sample_id)
def test_signed_sample_replayed_later_is_refused(sample: Sample) -> None:
    signed_at = sample.signed_at()
    assert signed_at is not None
    with pytest.raises(WebhookAuthError, match="timestamp"):
        handle(sample.request(), sample.signed_secrets(), signed_at + timedelta(days=1))


@pytest.mark.parametrize(
    "sample", [s for s in SAMPLES if s.platform == "mailgun" and not s.key], ids=sample_id
)
def test_signature_made_with_an_unpublished_key_fails(sample: Sample) -> None:
    with pytest.raises(WebhookAuthError, match="does not match"):
        handle(sample.request(), {"mailgun": "TEST_WEBHOOK_SIGNING_KEY"}, sample.signed_at())


def tamper(sample: Sample) -> bytes:
    """The body with one signed byte changed (Mailgun signs only its token, Mandrill the fields)."""
    body = sample.body
    if sample.platform == "mailgun":
        token = (
            json.loads(body)["signature"]["token"]
            if sample.meta["content_type"].endswith("json")
            else dict(urllib.parse.parse_qsl(body.decode()))["token"]
        )
        return body.replace(token.encode(), token[::-1].encode())
    if sample.meta["content_type"].startswith("application/x-www-form-urlencoded"):
        fields = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
        return urllib.parse.urlencode([(k, v.replace("@", "+x@")) for k, v in fields]).encode()
    return body[:1] + b" " + body[1:]


@pytest.mark.parametrize(
    "sample", [s for s in SAMPLES if s.platform == "ses" and b'"Type"' in s.body], ids=sample_id
)
def test_ses_placeholder_signatures_fail_real_sns_verification(sample: Sample) -> None:
    envelope = json.loads(sample.body)
    topic = envelope.get("TopicArn", "arn:aws:sns:us-east-1:1234567890:SES_Events")
    with pytest.raises(WebhookAuthError):
        handle(
            sample.request(),
            {"ses": topic},
            utc(envelope["Timestamp"]),
            fetch_certificate=lambda url: self_signed_certificate(),
        )


def self_signed_certificate() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    start = datetime(2000, 1, 1, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * 40))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)
