"""MailerSend webhooks: one JSON object per request, signed with HMAC-SHA256 of the raw body."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from ..auth import Credentials, same
from ..interface import WebhookAuthError, WebhookFormatError, WebhookRequest
from ..payload import MAX_URL, NativeEvent, Parsed, any_time, dig, load_json, mapping, text
from .base import Provider

KINDS = {
    "activity.delivered": "email_delivered",
    "activity.opened": "email_open",
    "activity.opened_unique": "email_open",
    "activity.clicked": "email_click",
    "activity.clicked_unique": "email_click",
    "activity.soft_bounced": "email_bounce",
    "activity.hard_bounced": "email_bounce",
    "activity.spam_complaint": "email_spam_complaint",
    "activity.unsubscribed": "email_unsubscribe",
}
WHY = {"activity.sent": "accepted for sending, not yet delivered"}


def verify(request: WebhookRequest, credentials: Credentials, now: datetime) -> None:
    """Hex HMAC-SHA256 of the raw body in the `Signature` header (no timestamp is signed)."""
    signature = request.headers.get("signature")
    if not signature:
        raise WebhookAuthError("mailersend: the request carries no signature")
    expected = hmac.new(credentials.key.encode(), request.body, hashlib.sha256).hexdigest()
    if not same(signature.strip().lower(), expected):
        raise WebhookAuthError("mailersend: the signature does not match")


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    document = load_json(request.body, "mailersend")
    if not isinstance(document, Mapping):
        raise WebhookFormatError("mailersend: expected one JSON object")
    native = text(document.get("type")) or "unknown"
    kind = KINDS.get(native)
    data = mapping(document.get("data"))
    email = mapping(data.get("email"))
    event = NativeEvent(
        native_event=native,
        kind=kind,
        email=dig(email, "recipient", "email"),
        occurred_at=any_time(data.get("created_at")),
        provider_event_id=text(data.get("id")),
        message_id=text(dig(email, "message", "id")),
        url=text(dig(data, "morph", "url"), MAX_URL) if kind == "email_click" else None,
        bounce_kind=native.removeprefix("activity.").removesuffix("_bounced")
        if kind == "email_bounce"
        else None,
        why=WHY.get(native),
    )
    return Parsed([event])


PROVIDER = Provider("mailersend", parse, verify)
