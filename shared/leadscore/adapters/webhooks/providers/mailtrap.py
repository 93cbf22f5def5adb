"""Mailtrap sending webhooks: {"events": [...]} or JSON Lines, signed with HMAC-SHA256 (hex)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..auth import Credentials, same
from ..interface import WebhookAuthError, WebhookFormatError, WebhookRequest
from ..payload import (
    MAX_URL,
    NativeEvent,
    Parsed,
    any_time,
    load_json,
    load_json_lines,
    objects,
    text,
)
from .base import ENGAGEMENT, Provider

KINDS = {
    "delivery": "email_delivered",
    "open": "email_open",
    "click": "email_click",
    "bounce": "email_bounce",
    "soft bounce": "email_bounce",
    "spam": "email_spam_complaint",
    "unsubscribe": "email_unsubscribe",
}
WHY = {
    "reject": "Mailtrap refused to send it",
    "suspension": "sending suspended; Mailtrap retries",
}


def verify(request: WebhookRequest, credentials: Credentials, now: datetime) -> None:
    """Hex HMAC-SHA256 of the raw body in `Mailtrap-Signature` (no timestamp is signed)."""
    signature = request.headers.get("mailtrap-signature")
    if not signature:
        raise WebhookAuthError("mailtrap: the request carries no signature")
    expected = hmac.new(credentials.key.encode(), request.body, hashlib.sha256).hexdigest()
    if not same(signature.strip().lower(), expected):
        raise WebhookAuthError("mailtrap: the signature does not match")


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    try:
        document = load_json(request.body, "mailtrap")
    except WebhookFormatError:
        # The "JSON Lines" payload format: one event per line.
        items: Any = load_json_lines(request.body, "mailtrap")
    else:
        items = document.get("events") if isinstance(document, Mapping) else None
        if not isinstance(items, list):
            raise WebhookFormatError("mailtrap: expected an object with an 'events' array")
    return Parsed([read_event(item) for item in objects(items)])


def read_event(item: Mapping[str, Any]) -> NativeEvent:
    native = text(item.get("event")) or "unknown"
    kind = KINDS.get(native)
    return NativeEvent(
        native_event=native,
        kind=kind,
        email=item.get("email"),
        occurred_at=any_time(item.get("timestamp")),
        provider_event_id=text(item.get("event_id")),
        message_id=text(item.get("message_id")),
        url=text(item.get("url"), MAX_URL) if kind == "email_click" else None,
        bounce_kind=("soft" if native == "soft bounce" else "hard")
        if kind == "email_bounce"
        else None,
        why=WHY.get(native),
        extra={"user_agent": text(item.get("user_agent"))} if kind in ENGAGEMENT else {},
    )


PROVIDER = Provider("mailtrap", parse, verify)
