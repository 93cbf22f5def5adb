"""SparkPost webhooks: an unsigned JSON array of {"msys": {<event class>: {...}}} wrappers."""

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
    load_json,
    mapping,
    objects,
    text,
)
from .base import ENGAGEMENT, Provider

KINDS = {
    "delivery": "email_delivered",
    "open": "email_open",
    "initial_open": "email_open",  # the pixel at the top of the message
    "amp_open": "email_open",
    "amp_initial_open": "email_open",
    "click": "email_click",
    "amp_click": "email_click",
    "spam_complaint": "email_spam_complaint",
    "list_unsubscribe": "email_unsubscribe",
    "link_unsubscribe": "email_unsubscribe",
}
WHY = {
    "injection": "accepted for sending, not yet delivered",
    "delay": "delivery delayed; SparkPost retries",
    "policy_rejection": "SparkPost refused to send it",
    "generation_failure": "the message could not be generated",
    "generation_rejection": "SparkPost refused to send it",
}
# SparkPost bounce classes (support.sparkpost.com bounce classification codes).
BOUNCE_CLASSES = {
    "1": "unknown",
    "10": "hard",
    "30": "hard",
    "20": "soft",
    "21": "soft",
    "22": "soft",
    "23": "soft",
    "24": "soft",
    "40": "soft",
    "70": "soft",
    "25": "block",
    "50": "block",
    "51": "block",
    "52": "block",
    "53": "block",
    "54": "block",
}
UNSUBSCRIBE_CLASS = "90"  # the recipient asked to be removed by replying


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    batch = load_json(request.body, "sparkpost")
    if not isinstance(batch, list):
        raise WebhookFormatError("sparkpost: expected a JSON array of events")
    # An empty {"msys": {}} is the ping SparkPost sends when the webhook is created.
    events = [
        event for wrapper in objects(batch) for event in mapping(wrapper.get("msys")).values()
    ]
    return Parsed([read_event(event) for event in objects(events)])


def read_event(event: Mapping[str, Any]) -> NativeEvent:
    native = text(event.get("type")) or "unknown"
    kind = KINDS.get(native)
    bounce_kind = None
    why = WHY.get(native)
    if native in {"bounce", "out_of_band"}:
        bounce_class = text(event.get("bounce_class")) or "1"
        if bounce_class == UNSUBSCRIBE_CLASS:
            kind = "email_unsubscribe"
        elif bounce_class in BOUNCE_CLASSES:
            kind, bounce_kind = "email_bounce", BOUNCE_CLASSES[bounce_class]
        else:
            why = f"bounce class {bounce_class} is an auto-reply or list message, not a bounce"
    return NativeEvent(
        native_event=native,
        kind=kind,
        email=event.get("raw_rcpt_to") or event.get("rcpt_to"),
        occurred_at=any_time(event.get("timestamp")),
        provider_event_id=text(event.get("event_id")),
        # The transmission id is what SparkPost's send API returned for the message.
        message_id=first_text(event.get("transmission_id"), event.get("message_id")),
        campaign=text(event.get("campaign_id")),
        url=text(event.get("target_link_url"), MAX_URL) if kind == "email_click" else None,
        bounce_kind=bounce_kind,
        why=why,
        extra={"user_agent": text(event.get("user_agent"))} if kind in ENGAGEMENT else {},
    )


PROVIDER = Provider("sparkpost", parse)
