"""SendGrid Event Webhook: a JSON array of events, optionally signed with ECDSA (P-256)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..auth import Credentials, check_fresh
from ..interface import WebhookAuthError, WebhookFormatError, WebhookRequest
from ..payload import (
    MAX_URL,
    NativeEvent,
    Parsed,
    any_time,
    first_text,
    flag,
    load_json,
    objects,
    text,
)
from .base import ENGAGEMENT, Provider

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
KINDS = {
    "delivered": "email_delivered",
    "open": "email_open",
    "click": "email_click",
    "bounce": "email_bounce",
    "spamreport": "email_spam_complaint",
    "unsubscribe": "email_unsubscribe",
    "group_unsubscribe": "email_unsubscribe",
}
WHY = {
    "processed": "accepted for sending, not yet delivered",
    "deferred": "delivery delayed; SendGrid retries",
    "dropped": "SendGrid never attempted delivery",
    "group_resubscribe": "resubscribed to a suppression group",
}


def verify(request: WebhookRequest, credentials: Credentials, now: datetime) -> None:
    """ECDSA over the timestamp header + the raw body, with the account's verification key."""
    # cryptography is imported here, by the requests that need it: ~35 ms of a cold start.
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    signature = request.headers.get(SIGNATURE)
    timestamp = request.headers.get(TIMESTAMP)
    if not signature or not timestamp:
        raise WebhookAuthError("sendgrid: the request carries no Event Webhook signature")
    check_fresh("sendgrid", timestamp, now)
    key = public_key(credentials.key)
    try:
        key.verify(
            base64.b64decode(signature.strip(), validate=True),
            timestamp.encode("utf-8", "surrogateescape") + request.body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, binascii.Error, ValueError):
        raise WebhookAuthError("sendgrid: the signature does not match") from None


def public_key(configured: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER) or as a PEM block."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import (
        load_der_public_key,
        load_pem_public_key,
    )

    try:
        if "BEGIN PUBLIC KEY" in configured:
            key = load_pem_public_key(configured.encode())
        else:
            key = load_der_public_key(base64.b64decode("".join(configured.split()), validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        raise WebhookAuthError("sendgrid: the configured verification key is unreadable") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise WebhookAuthError("sendgrid: the configured verification key is not an EC key")
    return key


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    batch = load_json(request.body, "sendgrid")
    if not isinstance(batch, list):
        raise WebhookFormatError("sendgrid: expected a JSON array of events")
    return Parsed([read_event(item) for item in objects(batch)])


def read_event(item: Mapping[str, Any]) -> NativeEvent:
    native = text(item.get("event")) or "unknown"
    kind = KINDS.get(native)
    extra: dict[str, Any] = {}
    if kind in ENGAGEMENT:
        extra["user_agent"] = text(item.get("useragent"))
    if flag(item.get("sg_machine_open")):
        extra["machine_open"] = True  # Apple Mail Privacy Protection fetched the pixel
        extra["machine"] = "provider_flag:sg_machine_open"
    return NativeEvent(
        native_event=native,
        kind=kind,
        email=item.get("email"),
        occurred_at=any_time(item.get("timestamp")),
        provider_event_id=text(item.get("sg_event_id")),
        message_id=text(item.get("sg_message_id")),
        campaign=first_text(item.get("marketing_campaign_id"), item.get("singlesend_id")),
        # group_unsubscribe also has a "url" (the preferences page): only a click has a link.
        url=text(item.get("url"), MAX_URL) if kind == "email_click" else None,
        bounce_kind=bounce_kind(item) if kind == "email_bounce" else None,
        why=WHY.get(native),
        extra=extra,
    )


def bounce_kind(item: Mapping[str, Any]) -> str:
    # SendGrid: type "bounce" is a permanent rejection, "blocked" a block by the receiver.
    return "block" if text(item.get("type")) == "blocked" else "hard"


PROVIDER = Provider("sendgrid", parse, verify)
