"""Webflow form submissions: v2 {"triggerType", "payload"} (HMAC-signed when an app made the
webhook) or the legacy v1 shape (unsigned)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..auth import Credentials, check_fresh, same
from ..interface import WebhookAuthError, WebhookFormatError, WebhookRequest
from ..payload import (
    NativeEvent,
    Parsed,
    any_time,
    email_address,
    first_text,
    label_key,
    load_json,
    mapping,
    profile_from_answers,
    text,
)
from .base import Provider, hidden_visitor


def verify(request: WebhookRequest, credentials: Credentials, now: datetime) -> None:
    """Hex HMAC-SHA256 of "<x-webflow-timestamp>:<body>" with the app's client secret."""
    signature = request.headers.get("x-webflow-signature")
    timestamp = request.headers.get("x-webflow-timestamp")
    if not signature or not timestamp:
        raise WebhookAuthError("webflow: the request carries no signature")
    check_fresh("webflow", timestamp, now)
    signed = timestamp.encode("utf-8", "surrogateescape") + b":" + request.body
    expected = hmac.new(credentials.key.encode(), signed, hashlib.sha256).hexdigest()
    if not same(signature.strip().lower(), expected):
        raise WebhookAuthError("webflow: the signature does not match")


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    document = load_json(request.body, "webflow")
    if not isinstance(document, Mapping):
        raise WebhookFormatError("webflow: expected one JSON object")
    if "triggerType" in document:
        native = text(document.get("triggerType")) or "unknown"
        submission = mapping(document.get("payload"))
        occurred = any_time(submission.get("submittedAt"))
        event_id = text(submission.get("id"))
    else:
        native = "form_submission (v1)"
        submission = document
        occurred = any_time(submission.get("d"))
        event_id = text(submission.get("_id"))
    fields = mapping(submission.get("data"))
    event = NativeEvent(
        native_event=native,
        kind="form_submit" if native.startswith("form_submission") else None,
        email=email_field(fields),
        occurred_at=occurred,
        provider_event_id=event_id,
        form=first_text(submission.get("name"), submission.get("formId")),
        why="not a form submission",
        extra={"form_id": text(submission.get("formId"))},
        profile=profile_from_answers((str(key), value) for key, value in fields.items()),
        visitor=hidden_visitor(fields),
    )
    return Parsed([event])


def email_field(fields: Mapping[str, Any]) -> Any:
    """The value of the field its (user-chosen) label calls an email, preferring 'Email' itself."""
    labelled = sorted(
        (label_key(str(key)) != "email", str(key))
        for key in fields
        if "email" in label_key(str(key))
    )
    for _, key in labelled:
        if email_address(fields[key]):
            return fields[key]
    return None


PROVIDER = Provider("webflow", parse, verify)
