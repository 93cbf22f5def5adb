"""Mailgun webhooks: JSON `event-data` with a `signature` block, or legacy (pre-2018) form posts."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..auth import Credentials, check_fresh, same
from ..interface import Delivery, WebhookAuthError, WebhookFormatError, WebhookRequest
from ..payload import (
    MAX_URL,
    NativeEvent,
    Parsed,
    any_time,
    dig,
    first_text,
    load_form,
    load_json,
    mapping,
    nested_json,
    objects,
    text,
)
from .base import ENGAGEMENT, Provider

# Mailgun retries a failed delivery for 8 hours with the original signature block. Only
# timestamp and token are signed: each token is taken once (`Delivery`) within this window.
REPLAY_WINDOW = timedelta(hours=8, minutes=30)
# Mailgun's answer for "rejected, do not retry"; any other refusal is retried for 8 hours.
REFUSED = 406
KINDS = {
    "delivered": "email_delivered",
    "opened": "email_open",
    "clicked": "email_click",
    "unsubscribed": "email_unsubscribe",
    "complained": "email_spam_complaint",
    "bounced": "email_bounce",  # legacy webhooks
}
WHY = {
    "accepted": "accepted for sending, not yet delivered",
    "rejected": "Mailgun refused to send it",
    "dropped": "Mailgun did not attempt delivery",
    "failed/temporary": "temporary failure; Mailgun retries",
    "stored": "an inbound message was stored",
}
# Permanent failures that are suppressions (Mailgun did not even try), not bounces.
SUPPRESSIONS = {"suppress-bounce", "suppress-unsubscribe", "suppress-complaint"}
# Mailgun's bot detection (`client-info.bot`) values that are machines: Apple Mail Privacy
# Protection and an unknown bot (a firewall or anti-virus scan). `gmail` is Gmail's image
# proxy, which fetches the images when the person opens the message: a person's open.
MACHINE_BOTS = frozenset({"apple", "generic"})


def verify(request: WebhookRequest, credentials: Credentials, now: datetime) -> Delivery:
    """HMAC-SHA256 (hex) of timestamp + token with the webhook signing key; the token is
    the delivery's id: the signature says nothing of the event data beside it."""
    block = signature_block(request)
    timestamp, token, signature = (text(block.get(k)) for k in ("timestamp", "token", "signature"))
    if not timestamp or not token or not signature:
        raise WebhookAuthError("mailgun: the request carries no signature")
    signed_at = check_fresh("mailgun", timestamp, now, REPLAY_WINDOW)
    expected = hmac.new(
        credentials.key.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    if not same(signature.lower(), expected):
        raise WebhookAuthError("mailgun: the signature does not match")
    # The id is the signed string, not the token alone: the same signature also holds for the
    # token's first characters moved into the timestamp ("1534109600e0" is a number too).
    return Delivery(timestamp + token, signed_at + REPLAY_WINDOW, refusal=REFUSED)


def signature_block(request: WebhookRequest) -> Mapping[str, Any]:
    if is_json(request):
        return mapping(mapping(load_json(request.body, "mailgun")).get("signature"))
    return load_form(request)


def is_json(request: WebhookRequest) -> bool:
    content_type = request.headers.get("content-type", "").lower()
    return "json" in content_type or request.body.lstrip()[:1] == b"{"


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    if is_json(request):
        document = load_json(request.body, "mailgun")
        event = dig(document, "event-data")
        if not isinstance(event, Mapping):
            raise WebhookFormatError("mailgun: expected an object with 'event-data'")
        return Parsed([read_event(event)])
    return Parsed([read_legacy_event(load_form(request))])


def read_event(event: Mapping[str, Any]) -> NativeEvent:
    name = text(event.get("event")) or "unknown"
    severity = text(event.get("severity"))
    native = f"{name}/{severity}" if name == "failed" and severity else name
    kind = KINDS.get(name)
    why = WHY.get(native)
    if native == "failed/permanent":
        if text(event.get("reason")) in SUPPRESSIONS:
            why = "Mailgun did not send to a suppressed address"
        else:
            kind = "email_bounce"
    headers = mapping(dig(event, "message", "headers"))
    campaigns = objects(event.get("campaigns"))
    client = mapping(event.get("client-info"))
    bot = text(client.get("bot"))
    return NativeEvent(
        native_event=native,
        kind=kind,
        # "rejected" events have no recipient: the To header is all there is.
        email=event.get("recipient") or headers.get("to"),
        occurred_at=any_time(event.get("timestamp")),
        provider_event_id=text(event.get("id")),
        message_id=text(headers.get("message-id")),
        campaign=text(campaigns[0].get("id")) if campaigns else None,
        url=text(event.get("url"), MAX_URL) if kind == "email_click" else None,
        bounce_kind="hard" if kind == "email_bounce" else None,
        why=why,
        extra={
            "user_agent": text(client.get("user-agent")),
            "machine": f"provider_flag:mailgun_bot:{bot}" if bot in MACHINE_BOTS else None,
        }
        if kind in ENGAGEMENT
        else {},
    )


def read_legacy_event(form: Mapping[str, str]) -> NativeEvent:
    native = text(form.get("event")) or "unknown"
    kind = KINDS.get(native)
    return NativeEvent(
        native_event=native,
        kind=kind,
        email=form.get("recipient"),
        occurred_at=any_time(form.get("timestamp")),
        message_id=first_text(form.get("Message-Id"), legacy_header(form, "Message-Id")),
        campaign=first_text(form.get("campaign-id")),
        url=text(form.get("url"), MAX_URL) if kind == "email_click" else None,
        bounce_kind="hard" if kind == "email_bounce" else None,
        why=WHY.get(native),
        extra={"user_agent": text(form.get("user-agent"))} if kind in ENGAGEMENT else {},
    )


def legacy_header(form: Mapping[str, str], name: str) -> Any:
    """A header from the legacy 'message-headers' field (a JSON list of [name, value] pairs)."""
    pairs = nested_json(form.get("message-headers"))
    for pair in pairs if isinstance(pairs, list) else []:
        if isinstance(pair, list) and len(pair) == 2 and str(pair[0]).lower() == name.lower():
            return pair[1]
    return None


PROVIDER = Provider("mailgun", parse, verify)
