"""Mandrill (Mailchimp Transactional): a form field `mandrill_events` holding a JSON array,
signed with HMAC-SHA1 over the configured URL and the POST fields."""

from __future__ import annotations

import base64
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
    load_form,
    mapping,
    nested_json,
    objects,
    text,
)
from .base import ENGAGEMENT, Provider

SIGNATURE = "X-Mandrill-Signature"
KINDS = {
    "delivered": "email_delivered",
    "open": "email_open",
    "click": "email_click",
    "hard_bounce": "email_bounce",
    "soft_bounce": "email_bounce",
    "spam": "email_spam_complaint",
    "unsub": "email_unsubscribe",
}
WHY = {
    "send": "accepted for sending, not yet delivered",
    "deferral": "delivery delayed; Mandrill retries",
    "reject": "Mandrill refused to send it",
}


def verify(request: WebhookRequest, credentials: Credentials, now: datetime) -> None:
    """Base64 HMAC-SHA1 of the webhook URL + each POST field's name and value, sorted by name."""
    signature = request.headers.get(SIGNATURE)
    if not signature:
        raise WebhookAuthError("mandrill: the request carries no signature")
    form = load_form(request)
    signed = credentials.public_url + "".join(name + form[name] for name in sorted(form))
    digest = hmac.new(credentials.key.encode(), signed.encode(), hashlib.sha1).digest()
    if not same(signature.strip(), base64.b64encode(digest)):
        raise WebhookAuthError("mandrill: the signature does not match (check url:mandrill)")


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    batch = nested_json(load_form(request).get("mandrill_events"))
    if not isinstance(batch, list):
        raise WebhookFormatError("mandrill: expected a 'mandrill_events' field with a JSON array")
    return Parsed([read_event(item) for item in objects(batch)])


def read_event(item: Mapping[str, Any]) -> NativeEvent:
    if "event" not in item and "type" in item:
        return read_sync_event(item)
    native = text(item.get("event")) or "unknown"
    kind = KINDS.get(native)
    message = mapping(item.get("msg"))
    return NativeEvent(
        native_event=native,
        kind=kind,
        email=message.get("email"),
        occurred_at=any_time(item.get("ts")),  # msg.ts is when the message was sent
        message_id=text(message.get("_id")) or text(item.get("_id")),
        # The top-level url is this click; msg.clicks is the message's click history.
        url=text(item.get("url"), MAX_URL) if kind == "email_click" else None,
        bounce_kind=native.removesuffix("_bounce") if kind == "email_bounce" else None,
        why=WHY.get(native),
        extra={"user_agent": text(item.get("user_agent"))} if kind in ENGAGEMENT else {},
    )


def read_sync_event(item: Mapping[str, Any]) -> NativeEvent:
    """A denylist/allowlist change: not about a message, no time."""
    native = f"sync:{text(item.get('type'))}/{text(item.get('action'))}"
    entry = mapping(item.get("reject")) or mapping(item.get("entry"))
    return NativeEvent(native, None, entry.get("email"), why="denylist/allowlist change")


# Mandrill checks the URL with an unsigned HEAD request when the webhook is created.
PROVIDER = Provider("mandrill", parse, verify)
