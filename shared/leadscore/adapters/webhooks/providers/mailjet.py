"""Mailjet Event API: unsigned JSON, an array when "group events" is on, else one object."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..interface import WebhookFormatError, WebhookRequest
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

KINDS = {
    "sent": "email_delivered",  # Mailjet "sent" = accepted by the receiving server
    "open": "email_open",
    "click": "email_click",
    "bounce": "email_bounce",
    "spam": "email_spam_complaint",
    "unsub": "email_unsubscribe",
}
WHY = {"blocked": "Mailjet did not send to a blocked address"}


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    document = load_json(request.body, "mailjet")
    if not isinstance(document, Mapping | list):
        raise WebhookFormatError("mailjet: expected a JSON object or array")
    return Parsed([read_event(item) for item in objects(document)])


def read_event(item: Mapping[str, Any]) -> NativeEvent:
    native = text(item.get("event")) or "unknown"
    kind = KINDS.get(native)
    campaign = text(item.get("mj_campaign_id"))
    return NativeEvent(
        native_event=native,
        kind=kind,
        email=item.get("email"),
        occurred_at=any_time(item.get("time")),
        # MessageID can exceed 2^53; mj_message_id is the same id as a string.
        message_id=first_text(item.get("mj_message_id"), item.get("MessageID")),
        campaign=campaign if campaign != "0" else None,
        url=text(item.get("url"), MAX_URL) if kind == "email_click" else None,
        bounce_kind=("hard" if flag(item.get("hard_bounce")) else "soft")
        if kind == "email_bounce"
        else None,
        why=WHY.get(native),
        extra={"user_agent": text(item.get("agent"))} if kind in ENGAGEMENT else {},
    )


PROVIDER = Provider("mailjet", parse)
