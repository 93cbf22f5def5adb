"""Canonical events: what every source (forms, webhooks, the user's systems) becomes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leadscore.domain.emails import EmailError, normalize_email

RETRY_WINDOW = 600  # seconds: how long a client's retries of an event without id or time last

CANONICAL_TYPES = frozenset(
    {
        "page_view",
        "form_submit",
        "email_delivered",
        "email_open",
        "email_click",
        "email_bounce",
        "email_unsubscribe",
        "email_spam_complaint",
        "download",
        "webinar_registered",
        "webinar_attended",
        "demo_request",
        "social_engagement",
        "meeting_booked",
    }
)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing a lead did (or that happened to a lead), at `occurred_at` (aware, UTC)."""

    id: str
    type: str
    occurred_at: datetime
    product: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    profile: Mapping[str, Any] | None = None


class EventError(ValueError):
    """An event that cannot be scored, with the field at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def parse_time(value: Any, field: str = "occurred_at") -> datetime:
    """ISO-8601 (a trailing Z allowed) or epoch seconds -> aware UTC datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise EventError(field, f"not an ISO-8601 time: {value[:40]!r}") from None
    else:
        raise EventError(field, "must be an ISO-8601 string or epoch seconds")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def content_id(document: Mapping[str, Any], received_at: datetime | None = None) -> str:
    """A deterministic id for an event sent without one, so a retried post counts once.

    An event without its own time (a form post) also gets the RETRY_WINDOW it arrived in:
    the same submission sent again later is a new event, a retry within the window is not
    (the scorer also checks the window before, `retry_ids`, so one straddling a boundary is
    still a retry)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    digest = "h-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
    if received_at is None or document.get("occurred_at") is not None:
        return digest
    return f"{digest}.{int(received_at.timestamp()) // RETRY_WINDOW}"


def retry_ids(event_id: str) -> list[str]:
    """The ids under which an earlier delivery of the same event may be logged: its own, and
    for a content id with a window (`content_id`) the same content in the window before."""
    digest, _, window = event_id.partition(".")
    if not (digest.startswith("h-") and len(digest) == 34 and window.isdigit()):
        return [event_id]
    return [event_id, f"{digest}.{int(window) - 1}"]


def event_from_dict(document: Mapping[str, Any], received_at: datetime) -> Event:
    """Build an Event from its JSON shape (`POST /v1/events`, the CLI, queue messages)."""
    kind = document.get("type")
    if not isinstance(kind, str) or not kind.strip():
        raise EventError("type", "required, a non-empty string")
    properties = document.get("properties") or {}
    if not isinstance(properties, Mapping):
        raise EventError("properties", "must be an object")
    profile = document.get("profile")
    if profile is not None and not isinstance(profile, Mapping):
        raise EventError("profile", "must be an object")
    product = document.get("product")
    if product is not None and not isinstance(product, str):
        raise EventError("product", "must be a string")
    raw_id = document.get("id")
    if raw_id is not None and (not isinstance(raw_id, str) or not raw_id.strip()):
        raise EventError("id", "must be a non-empty string")
    occurred = document.get("occurred_at")
    return Event(
        id=raw_id.strip() if raw_id else content_id(document, received_at),
        type=kind.strip(),
        occurred_at=received_at if occurred is None else parse_time(occurred),
        product=product,
        properties=dict(properties),
        profile=dict(profile) if profile else None,
    )


def canonical_event(document: Any, received_at: datetime) -> tuple[str, Event]:
    """One event document (`POST /v1/events`, a form, a webhook, a queue message) -> (email,
    Event): the email by the one rule (emails.py); EventError names the field at fault."""
    if not isinstance(document, Mapping):
        raise EventError("", "an event must be a JSON object")
    try:
        email = normalize_email(document.get("email"))
    except EmailError as error:
        raise EventError("email", str(error)) from None
    # The email is normalised first so a retried post with other casing gets the same id.
    try:
        return email, event_from_dict({**document, "email": email}, received_at)
    except EventError:
        raise
    except (OverflowError, OSError, ValueError):
        raise EventError("occurred_at", "out of range") from None


def event_to_dict(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "product": event.product,
        "properties": dict(event.properties),
        "profile": dict(event.profile) if event.profile else None,
    }
