"""Mailchimp audience webhooks: unsigned form posts with `type` and `data[...]` fields."""

from __future__ import annotations

from datetime import datetime

from ..interface import WebhookRequest
from ..payload import NativeEvent, Parsed, iso_time, load_form, text
from .base import Provider

WHY = {
    "subscribe": "joined the audience (a list change, not an email event)",
    "profile": "profile fields changed",
    "upemail": "email address changed",
    "campaign": "campaign-level status change, no recipient",
}


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    form = load_form(request)
    native = text(form.get("type")) or "unknown"
    reason = text(form.get("data[reason]"))
    kind = None
    bounce_kind = None
    if native == "unsubscribe":
        # Mailchimp says reason "abuse" when the unsubscribe came from a spam complaint.
        kind = "email_spam_complaint" if reason == "abuse" else "email_unsubscribe"
    elif native == "cleaned":
        kind = "email_spam_complaint" if reason == "abuse" else "email_bounce"
        bounce_kind = "hard" if kind == "email_bounce" else None
    event = NativeEvent(
        native_event=native,
        kind=kind,
        email=form.get("data[email]") or form.get("data[new_email]"),
        # fired_at carries no zone: Mailchimp's server time, taken as UTC.
        occurred_at=iso_time(form.get("fired_at")),
        campaign=text(form.get("data[campaign_id]")),
        bounce_kind=bounce_kind,
        why=WHY.get(native),
    )
    return Parsed([event])


# Mailchimp validates the URL with a GET before it saves the webhook.
PROVIDER = Provider("mailchimp", parse, handshake_methods=frozenset({"GET", "HEAD"}))
