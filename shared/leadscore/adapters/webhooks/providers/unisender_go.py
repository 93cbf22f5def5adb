"""Unisender Go callbacks: one event or a batch, signed with MD5 in the body's `auth` field."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..auth import Credentials, same
from ..interface import WebhookAuthError, WebhookFormatError, WebhookRequest
from ..payload import MAX_URL, NativeEvent, Parsed, dig, iso_time, load_json, mapping, objects, text
from .base import ENGAGEMENT, Provider

AUTH_FIELD = re.compile(rb'"auth"\s*:\s*"([0-9a-fA-F]{32})"')
KINDS = {
    "delivered": "email_delivered",
    "opened": "email_open",
    "clicked": "email_click",
    "soft_bounced": "email_bounce",
    "hard_bounced": "email_bounce",
    "spam": "email_spam_complaint",
    "unsubscribed": "email_unsubscribe",
}
WHY = {"sent": "accepted for sending, not yet delivered", "subscribed": "subscribed"}


def verify(request: WebhookRequest, credentials: Credentials, now: datetime) -> None:
    """MD5 of the raw body with the `auth` value replaced by the API key must equal `auth`."""
    match = AUTH_FIELD.search(request.body)
    if match is None:
        raise WebhookAuthError("unisender_go: the request carries no 'auth' signature")
    signed = (
        request.body[: match.start(1)] + credentials.key.encode() + request.body[match.end(1) :]
    )
    if not same(match.group(1).lower(), hashlib.md5(signed).hexdigest().encode()):  # noqa: S324 - Unisender's scheme
        raise WebhookAuthError("unisender_go: the signature does not match")


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    document = load_json(request.body, "unisender_go")
    if not isinstance(document, Mapping):
        raise WebhookFormatError("unisender_go: expected one JSON object")
    if "events_by_user" in document:
        # The "multiple events" format: events_by_user[].events[] with event_data inside.
        items = [
            (text(event.get("event_name")), mapping(event.get("event_data")))
            for user in objects(document.get("events_by_user"))
            for event in objects(user.get("events"))
        ]
    else:
        items = [(text(document.get("event_name")), document)]
    return Parsed([read_event(name, data) for name, data in items])


def read_event(event_name: str | None, data: Mapping[str, Any]) -> NativeEvent:
    if event_name != "transactional_email_status":
        return NativeEvent(event_name or "unknown", None, None, why="not about a message")
    native = text(data.get("status")) or "unknown"
    kind = KINDS.get(native)
    return NativeEvent(
        native_event=native,
        kind=kind,
        email=data.get("email"),
        occurred_at=iso_time(data.get("event_time")),  # "YYYY-MM-DD HH:MM:SS", UTC
        message_id=text(data.get("job_id")),
        url=text(data.get("url"), MAX_URL) if kind == "email_click" else None,
        bounce_kind=native.removesuffix("_bounced") if kind == "email_bounce" else None,
        why=WHY.get(native),
        extra={"user_agent": text(dig(data, "delivery_info", "user_agent"))}
        if kind in ENGAGEMENT
        else {},
    )


PROVIDER = Provider("unisender_go", parse, verify, handshake_methods=frozenset({"GET", "HEAD"}))
