"""Brevo (Sendinblue) webhooks: one unsigned JSON object per request, transactional or marketing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..interface import WebhookFormatError, WebhookRequest
from ..payload import MAX_URL, NativeEvent, Parsed, epoch_time, first_text, load_json, objects, text
from .base import Provider

KINDS = {
    "delivered": "email_delivered",
    "opened": "email_open",
    "unique_opened": "email_open",
    "proxy_open": "email_open",
    "unique_proxy_open": "email_open",
    "click": "email_click",
    "hard_bounce": "email_bounce",
    "soft_bounce": "email_bounce",
    "invalid_email": "email_bounce",
    "spam": "email_spam_complaint",
    "complaint": "email_spam_complaint",
    "unsubscribe": "email_unsubscribe",
    "unsubscribed": "email_unsubscribe",
}
BOUNCE_KINDS = {"hard_bounce": "hard", "soft_bounce": "soft", "invalid_email": "hard"}
WHY = {
    "request": "accepted for sending, not yet delivered",
    "deferred": "delivery delayed; Brevo retries",
    "blocked": "Brevo did not send to a blocked address",
    "error": "Brevo could not send it",
    "listAddition": "added to a list",
}


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    document = load_json(request.body, "brevo")
    if not isinstance(document, Mapping | list):
        raise WebhookFormatError("brevo: expected a JSON object")
    return Parsed([read_event(item) for item in objects(document)])


def read_event(item: Mapping[str, Any]) -> NativeEvent:
    native = text(item.get("event")) or "unknown"
    kind = KINDS.get(native)
    extra: dict[str, Any] = {}
    if "proxy_open" in native:
        extra["machine_open"] = True  # a privacy proxy (Apple MPP) fetched the pixel
        extra["machine"] = f"provider_flag:{native}"
    return NativeEvent(
        native_event=native,
        kind=kind,
        email=item.get("email"),
        occurred_at=occurred_at(item),
        message_id=text(item.get("message-id")),
        campaign=text(item.get("camp_id")),
        # Transactional clicks name the link "link", marketing clicks "URL".
        url=first_text(item.get("link"), item.get("URL"), limit=MAX_URL)
        if kind == "email_click"
        else None,
        bounce_kind=BOUNCE_KINDS.get(native),
        why=WHY.get(native),
        extra=extra,
    )


def occurred_at(item: Mapping[str, Any]) -> datetime | None:
    # ts_epoch / s_epoch are documented as milliseconds (some samples send seconds: the
    # magnitude tells); ts_event / ts are seconds. "date" is naive local account time: unused.
    for key in ("ts_epoch", "s_epoch", "ts_event", "ts"):
        moment = epoch_time(item.get(key))
        if moment is not None:
            return moment
    return None


PROVIDER = Provider("brevo", parse)
