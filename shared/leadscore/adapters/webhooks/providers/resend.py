"""Resend webhooks, delivered and signed by Svix (Standard Webhooks, HMAC-SHA256)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..auth import REPLAY_WINDOW, Credentials, check_fresh, same
from ..interface import Delivery, WebhookAuthError, WebhookFormatError, WebhookRequest
from ..payload import (
    MAX_URL,
    NativeEvent,
    Parsed,
    any_time,
    dig,
    first_text,
    load_json,
    mapping,
    text,
)
from .base import ENGAGEMENT, Provider

KINDS = {
    "email.delivered": "email_delivered",
    "email.opened": "email_open",
    "email.clicked": "email_click",
    "email.bounced": "email_bounce",
    "email.complained": "email_spam_complaint",
}
WHY = {
    "email.sent": "accepted for sending, not yet delivered",
    "email.delivery_delayed": "delivery delayed; Resend retries",
    "email.failed": "Resend could not send it",
    "email.scheduled": "scheduled for sending",
}


def verify(request: WebhookRequest, credentials: Credentials, now: datetime) -> Delivery:
    """HMAC-SHA256 over "svix-id.svix-timestamp.body" with the decoded whsec_ secret; the
    svix-id is taken once while its timestamp is fresh (Svix's advice: dedupe on it)."""
    message_id = request.headers.get("svix-id") or request.headers.get("webhook-id")
    timestamp = request.headers.get("svix-timestamp") or request.headers.get("webhook-timestamp")
    signatures = request.headers.get("svix-signature") or request.headers.get("webhook-signature")
    if not message_id or not timestamp or not signatures:
        raise WebhookAuthError("resend: the request carries no Svix signature")
    signed_at = check_fresh("resend", timestamp, now)
    try:
        key = base64.b64decode(credentials.key.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookAuthError("resend: the configured signing secret is unreadable") from None
    signed = f"{message_id}.{timestamp}.".encode("utf-8", "surrogateescape") + request.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    # The header lists "v1,<sig>" entries separated by spaces (several while a secret rotates).
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and same(signature, expected):
            return Delivery(message_id, signed_at + REPLAY_WINDOW)
    raise WebhookAuthError("resend: the signature does not match")


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    document = load_json(request.body, "resend")
    if not isinstance(document, Mapping):
        raise WebhookFormatError("resend: expected one JSON object")
    native = text(document.get("type")) or "unknown"
    kind = KINDS.get(native)
    data = mapping(document.get("data"))
    recipients = data.get("to")
    # An event covers the whole message; with several recipients it goes to the first.
    email = recipients[0] if isinstance(recipients, list) and recipients else recipients
    event = NativeEvent(
        native_event=native,
        kind=kind,
        email=email,
        occurred_at=any_time(document.get("created_at")),  # data.created_at is the send time
        # Resend's body has no event id: Svix's message id (one per event) is it.
        provider_event_id=text(request.headers.get("svix-id") or request.headers.get("webhook-id")),
        message_id=text(data.get("email_id")),
        campaign=first_text(data.get("broadcast_id")),
        url=text(dig(data, "click", "link"), MAX_URL) if kind == "email_click" else None,
        bounce_kind=bounce_kind(mapping(data.get("bounce"))) if kind == "email_bounce" else None,
        why=WHY.get(native),
        extra={
            "user_agent": first_text(
                dig(data, "click", "userAgent"), dig(data, "open", "userAgent")
            )
        }
        if kind in ENGAGEMENT
        else {},
    )
    return Parsed([event])


def bounce_kind(bounce: Mapping[str, Any]) -> str:
    kind = (text(bounce.get("type")) or "").lower()
    detail = f"{text(bounce.get('subType')) or ''} {text(bounce.get('message')) or ''}".lower()
    if "suppress" in detail:
        return "suppressed"
    if kind == "permanent" or "hard bounce" in detail:
        return "hard"
    if kind == "transient" or "soft bounce" in detail:
        return "soft"
    return "unknown"


PROVIDER = Provider("resend", parse, verify)
