"""Typeform webhooks: one form response per request, signed with base64 HMAC-SHA256 of the body."""

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
    NativeEvent,
    Parsed,
    any_time,
    email_address,
    first_text,
    load_json,
    mapping,
    objects,
    profile_from_answers,
    text,
)
from .base import Provider, hidden_visitor


def verify(request: WebhookRequest, credentials: Credentials, now: datetime) -> None:
    """`Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, body)>` (no timestamp is signed)."""
    signature = request.headers.get("typeform-signature", "")
    if not signature.startswith("sha256="):
        raise WebhookAuthError("typeform: the request carries no signature")
    digest = hmac.new(credentials.key.encode(), request.body, hashlib.sha256).digest()
    if not same(signature.removeprefix("sha256=").strip(), base64.b64encode(digest)):
        raise WebhookAuthError("typeform: the signature does not match")


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    document = load_json(request.body, "typeform")
    if not isinstance(document, Mapping):
        raise WebhookFormatError("typeform: expected one JSON object")
    native = text(document.get("event_type")) or "unknown"
    response = mapping(document.get("form_response"))
    definition = mapping(response.get("definition"))
    titles = {
        text(field.get("id")): text(field.get("title")) or text(field.get("ref")) or ""
        for field in objects(definition.get("fields"))
    }
    hidden = mapping(response.get("hidden"))
    email: Any = hidden.get("email")
    labelled: list[tuple[str, Any]] = []
    for answer in objects(response.get("answers")):
        value = answer_value(answer)
        field = mapping(answer.get("field"))
        label = titles.get(text(field.get("id"))) or text(field.get("ref")) or ""
        if text(answer.get("type")) == "email" or text(field.get("type")) == "email":
            email = value if email_address(value) else email
        else:
            labelled.append((label, value))
    labelled.extend((str(key), value) for key, value in hidden.items())
    extra = {
        str(key): value
        for key, value in hidden.items()
        if str(key).startswith("utm_") and text(value) is not None
    }
    event = NativeEvent(
        native_event=native,
        kind="form_submit" if native == "form_response" else None,
        email=email,
        occurred_at=any_time(response.get("submitted_at")),
        provider_event_id=text(document.get("event_id")),
        form=first_text(definition.get("title"), response.get("form_id")),
        why="not a completed form response",
        extra={"form_id": text(response.get("form_id")), **extra},
        profile=profile_from_answers(labelled),
        visitor=hidden_visitor(hidden),
    )
    return Parsed([event])


def answer_value(answer: Mapping[str, Any]) -> Any:
    """The answer under the key its type names (text, email, number, choice, ...)."""
    kind = text(answer.get("type")) or ""
    value = answer.get(kind)
    if kind == "choice":
        return mapping(value).get("label")
    if kind == "choices":
        labels = mapping(value).get("labels")
        return ", ".join(str(label) for label in labels[:20]) if isinstance(labels, list) else None
    return value


PROVIDER = Provider("typeform", parse, verify)
