"""Postmark webhooks: one unsigned JSON object per request, `RecordType` names the event."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..interface import WebhookFormatError, WebhookRequest
from ..payload import MAX_URL, NativeEvent, Parsed, any_time, first_text, flag, load_json, text
from .base import ENGAGEMENT, Provider

# Bounce records by Type: (canonical type, bounce kind). Anything else is not a bounce
# (auto-replies, transient delays, address changes, DMARC reports, ...).
BOUNCES = {
    "HardBounce": ("email_bounce", "hard"),
    "BadEmailAddress": ("email_bounce", "hard"),
    "SoftBounce": ("email_bounce", "soft"),
    "Blocked": ("email_bounce", "block"),
    "ManuallyDeactivated": (None, None),
    "SpamComplaint": ("email_spam_complaint", None),
    "Unsubscribe": ("email_unsubscribe", None),
}
# SubscriptionChange records that suppress sending, by SuppressionReason.
SUPPRESSIONS = {
    "HardBounce": ("email_bounce", "hard"),
    "SpamComplaint": ("email_spam_complaint", None),
    "ManualSuppression": ("email_unsubscribe", None),
}
KINDS = {
    "Delivery": "email_delivered",
    "Open": "email_open",
    "Click": "email_click",
    "SpamComplaint": "email_spam_complaint",
}


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    record = load_json(request.body, "postmark")
    if not isinstance(record, Mapping):
        raise WebhookFormatError("postmark: expected one JSON object")
    return Parsed([read_event(record)])


def read_event(record: Mapping[str, Any]) -> NativeEvent:
    record_type = text(record.get("RecordType")) or "unknown"
    native = record_type
    kind = KINDS.get(record_type)
    bounce_kind = None
    why = None
    if record_type == "Bounce":
        subtype = text(record.get("Type")) or "Unknown"
        native = f"Bounce/{subtype}"
        kind, bounce_kind = BOUNCES.get(subtype, (None, None))
        why = "a bounce record that is not a failed delivery (delay, auto-reply, ...)"
    elif record_type == "SubscriptionChange":
        reason = text(record.get("SuppressionReason"))
        native = f"SubscriptionChange/{reason}"
        if flag(record.get("SuppressSending")):
            kind, bounce_kind = SUPPRESSIONS.get(reason or "", (None, None))
            why = "sending suppressed for another reason"
        else:
            why = "sending resumed (resubscribe or reactivation)"
    extra: dict[str, Any] = {}
    if kind in ENGAGEMENT:
        extra["user_agent"] = text(record.get("UserAgent"))
    if record_type == "Open" and isinstance(record.get("FirstOpen"), bool):
        extra["first_open"] = record["FirstOpen"]
    return NativeEvent(
        native_event=native,
        kind=kind,
        email=record.get("Recipient") or record.get("Email"),
        occurred_at=any_time(
            first_text(
                record.get("DeliveredAt"),
                record.get("ReceivedAt"),
                record.get("BouncedAt"),
                record.get("ChangedAt"),
            )
        ),
        # Only bounce and spam-complaint records carry an ID of their own.
        provider_event_id=text(record.get("ID")),
        message_id=text(record.get("MessageID")),
        url=text(record.get("OriginalLink"), MAX_URL) if kind == "email_click" else None,
        bounce_kind=bounce_kind,
        why=why,
        extra=extra,
    )


PROVIDER = Provider("postmark", parse)
