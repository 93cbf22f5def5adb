"""Amazon SES events delivered by Amazon SNS: the SNS envelope (signed with RSA) around SES JSON.

Also answers the SNS handshake: a SubscriptionConfirmation yields `confirm_url`, which the
caller must GET to start the subscription. With raw message delivery on, the body is the bare
SES event and carries no signature at all: only Basic auth or a URL token can protect it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..auth import Credentials
from ..interface import Delivery, WebhookAuthError, WebhookFormatError, WebhookRequest
from ..payload import (
    MAX_URL,
    NativeEvent,
    Parsed,
    any_time,
    dig,
    load_json,
    mapping,
    nested_json,
    objects,
    text,
)
from .base import ENGAGEMENT, Provider

# SNS signs the publish time and resends the same message on retry, which can span hours.
REPLAY_WINDOW = timedelta(hours=8)
# Amazon SNS's hosts exactly as SNS writes them: `sns.<region>.amazonaws.com` (GovCloud's
# regions are `us-gov-<direction>-<n>`), and `.amazonaws.com.cn` for the China regions. A region
# is `<area>-<direction>-<n>`, so an S3 bucket host such as `sns.s3-us-west-2...` is not one.
DIRECTION = r"(?:central|(?:north|south)?(?:east|west)|north|south)"
SNS_HOST = (
    rf"sns\.(?:(?!cn-)[a-z]{{2}}(?:-gov)?-{DIRECTION}-[1-9][0-9]?\.amazonaws\.com"
    rf"|cn-{DIRECTION}-[1-9][0-9]?\.amazonaws\.com\.cn)"
)
# Matched against the URL as sent, never a parsed and normalised copy: no userinfo, port,
# upper case, trailing dot, other path, query or fragment can pass.
CERTIFICATE_URL = re.compile(
    rf"https://{SNS_HOST}/SimpleNotificationService-[0-9A-Za-z]+\.pem", re.ASCII
)
# The one unauthenticated action the API performs on SNS's behalf.
SUBSCRIBE_URL = re.compile(
    rf"https://{SNS_HOST}/\?Action=ConfirmSubscription(?:&[\w.~%:=+-]+)*", re.ASCII
)
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNED_FIELDS["UnsubscribeConfirmation"] = SIGNED_FIELDS["SubscriptionConfirmation"]
DIGESTS = {"1": "SHA1", "2": "SHA256"}  # SignatureVersion: hash algorithm (cryptography's name)
KINDS = {
    "Delivery": "email_delivered",
    "Open": "email_open",
    "Click": "email_click",
    "Bounce": "email_bounce",
    "Complaint": "email_spam_complaint",
}
WHY = {
    "Send": "accepted for sending, not yet delivered",
    "Reject": "SES refused to send it",
    "Rendering Failure": "the template could not be rendered",
    "DeliveryDelay": "delivery delayed; SES retries",
}
BOUNCE_KINDS = {"Permanent": "hard", "Transient": "soft"}
# Where each SES event type keeps its own time and its recipients.
TIME_FIELDS = {
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Delivery": "delivery",
    "Open": "open",
    "Click": "click",
    "DeliveryDelay": "deliveryDelay",
    "Subscription": "subscription",
}
# For these, the event happened when the message was sent.
SEND_TIME_EVENTS = {"Send", "Reject", "Rendering Failure"}


def verify(request: WebhookRequest, credentials: Credentials, now: datetime) -> Delivery | None:
    """SNS signature over the envelope fields, with the certificate at SigningCertURL,
    from an allowed topic (the `ses` secret lists the topic ARNs, comma-separated). The signed
    MessageId is the delivery's id, taken once while its timestamp is accepted."""
    # cryptography is imported here, by the requests that need it: ~35 ms of a cold start.
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    envelope = load_json(request.body, "ses")
    if not isinstance(envelope, Mapping) or "Signature" not in envelope:
        raise WebhookAuthError("ses: the request is not a signed SNS message")
    topics = {arn.strip() for arn in credentials.key.split(",") if arn.strip()}
    if text(envelope.get("TopicArn")) not in topics:
        raise WebhookAuthError("ses: the SNS topic is not one this deployment subscribed to")
    published = any_time(envelope.get("Timestamp"))
    if published is None or abs(now - published) > REPLAY_WINDOW:
        raise WebhookAuthError("ses: the SNS timestamp is missing or too old")
    digest = DIGESTS.get(text(envelope.get("SignatureVersion")) or "")
    fields = SIGNED_FIELDS.get(text(envelope.get("Type")) or "")
    if digest is None or fields is None:
        raise WebhookAuthError("ses: unknown SNS message type or signature version")
    certificate_url = sns_url(envelope.get("SigningCertURL"), CERTIFICATE_URL)
    if credentials.fetch_certificate is None:
        raise WebhookAuthError("ses: no certificate source was given to check SNS signatures")
    try:
        pem = credentials.fetch_certificate(certificate_url)
        key = x509.load_pem_x509_certificate(pem).public_key()
    except Exception:  # a failed download or a broken certificate: cannot be trusted
        raise WebhookAuthError("ses: the SNS signing certificate is unavailable") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookAuthError("ses: the SNS signing certificate has no RSA key")
    signed = "".join(
        f"{name}\n{envelope[name]}\n" for name in fields if isinstance(envelope.get(name), str)
    )
    try:
        signature = base64.b64decode(str(envelope.get("Signature")), validate=True)
        key.verify(signature, signed.encode(), padding.PKCS1v15(), getattr(hashes, digest)())
    except (InvalidSignature, binascii.Error, ValueError):
        raise WebhookAuthError("ses: the SNS signature does not match") from None
    message_id = envelope.get("MessageId")
    return Delivery(message_id, published + REPLAY_WINDOW) if isinstance(message_id, str) else None


def sns_url(value: Any, shape: re.Pattern[str]) -> str:
    """The URL if it has `shape` (on an Amazon SNS host), or WebhookAuthError: the API
    fetches these URLs, so it must never be pointed anywhere else."""
    if not isinstance(value, str) or len(value) > MAX_URL or not shape.fullmatch(value):
        raise WebhookAuthError("ses: the URL in the SNS message is not an Amazon SNS URL")
    return value


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    document = load_json(request.body, "ses")
    if not isinstance(document, Mapping):
        raise WebhookFormatError("ses: expected one JSON object")
    kind = text(document.get("Type"))
    if kind == "SubscriptionConfirmation":
        return Parsed([], confirm_url=sns_url(document.get("SubscribeURL"), SUBSCRIBE_URL))
    if kind == "UnsubscribeConfirmation":
        return Parsed([])
    if kind == "Notification":
        message = nested_json(document.get("Message"))
        # Some notifications are plain text ("Successfully validated SNS topic..."): no event.
        # Anything else on the topic is not an email event either, and is acknowledged.
        if not isinstance(message, Mapping):
            return Parsed([])
        return Parsed(read_events(message, document))
    # Raw message delivery: the body is the SES event itself.
    if "eventType" not in document and "notificationType" not in document:
        raise WebhookFormatError("ses: neither an SNS message nor an SES event")
    return Parsed(read_events(document, {}))


def read_events(event: Mapping[str, Any], envelope: Mapping[str, Any]) -> list[NativeEvent]:
    native = text(event.get("eventType")) or text(event.get("notificationType"))
    if native is None:
        return []
    mail = mapping(event.get("mail"))
    details = mapping(event.get(TIME_FIELDS.get(native, native.lower())))
    kind = KINDS.get(native)
    why = WHY.get(native)
    bounce_kind = None
    if native == "Bounce":
        bounce_kind = BOUNCE_KINDS.get(text(details.get("bounceType")) or "", "unknown")
    elif native == "Complaint" and text(details.get("complaintFeedbackType")) == "not-spam":
        kind, why = None, "the recipient reported it as not spam"
    elif native == "Subscription":
        if dig(details, "newTopicPreferences", "unsubscribeAll") is True:
            kind = "email_unsubscribe"
        else:
            why = "topic preferences changed"
    occurred = any_time(details.get("timestamp"))
    if occurred is None and native in SEND_TIME_EVENTS:
        occurred = any_time(mail.get("timestamp"))
    occurred = occurred or any_time(envelope.get("Timestamp")) or any_time(mail.get("timestamp"))
    common: dict[str, Any] = {
        "native_event": native,
        "kind": kind,
        "occurred_at": occurred,
        "provider_event_id": text(envelope.get("MessageId")),
        "message_id": text(mail.get("messageId")),
        "url": text(details.get("link"), MAX_URL) if kind == "email_click" else None,
        "bounce_kind": bounce_kind,
        "why": why,
        "extra": {"user_agent": text(details.get("userAgent"))} if kind in ENGAGEMENT else {},
    }
    # One SNS notification covers every affected recipient: one event each.
    return [NativeEvent(email=email, **common) for email in recipients(native, details, mail)]


def recipients(native: str, details: Mapping[str, Any], mail: Mapping[str, Any]) -> list[Any]:
    listed = {
        "Bounce": "bouncedRecipients",
        "Complaint": "complainedRecipients",
        "DeliveryDelay": "delayedRecipients",
    }.get(native)
    if listed:
        return [entry.get("emailAddress") for entry in objects(details.get(listed))]
    if native == "Delivery" and isinstance(details.get("recipients"), list):
        return list(details["recipients"])
    destination = mail.get("destination")
    return list(destination) if isinstance(destination, list) else []


PROVIDER = Provider("ses", parse, verify)
