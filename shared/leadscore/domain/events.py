"""Canonical events: what every source (forms, webhooks, the user's systems) becomes."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leadscore.domain.emails import EmailError, normalize_email

RETRY_WINDOW = 600  # seconds: how long a client's retries of an event without id or time last

# What one event may hold, so that nothing accepted fails later in the scorer for its size.
# DynamoDB keys an event `EV#<id>` (a sort key: at most 1,024 bytes) and keeps an item under
# 400 KB; the table stores properties and profile as JSON with non-ASCII characters escaped
# (`\u00e9`, 6 bytes), which is what the byte limits measure (`stored_size`). A lead's profile
# item keeps at most MAX_PROFILE_FIELDS fields, each name twice (value, time): at most
# 64 x (2,048 + 2 x 768 + 30) bytes, about 230 KB, when every character is an emoji, and
# about 75 KB of plain text; an event item at most about 70 KB and its deltas.
MAX_ID_BYTES = 256  # UTF-8: 256 ASCII characters
MAX_NAME_CHARS = 64  # type, product, and the name of every property and profile field
MAX_PROPERTIES = 50
MAX_PROPERTY_TEXT = 4_096  # characters of one string anywhere in properties (a long URL)
MAX_PROPERTIES_DEPTH = 16  # objects and lists within properties
MAX_PROPERTIES_BYTES = 32_768  # a form's 20 custom fields of 1,000 characters fit
MAX_PROFILE_FIELDS = 64  # as many as the scorer keeps for a lead
MAX_PROFILE_TEXT = 1_000  # characters of a profile value (a string, or a list's strings)
MAX_PROFILE_VALUE_BYTES = 2_048  # 1,000 characters of any plain text, quotes escaped
MAX_PROFILE_LIST = 20
MAX_PROFILE_BYTES = 32_768

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


# Sources whose profile data comes from the user's own systems (contract §3): their email
# platforms and the Segment source; None is `POST /v1/events`. Every other source (a form
# post, a form platform's webhook, the tracking snippet, one added later) is untrusted.
TRUSTED_SOURCES = frozenset(
    {
        "brevo",
        "mailchimp",
        "mailersend",
        "mailgun",
        "mailjet",
        "mailtrap",
        "mandrill",
        "postmark",
        "resend",
        "segment",
        "sendgrid",
        "ses",
        "sparkpost",
        "unisender_go",
    }
)
# An untrusted source that showed a person was there (a form post that passed a CAPTCHA).
CAPTCHA_FORM = "form-captcha"


@dataclass(frozen=True, slots=True)
class Event:
    """One thing a lead did (or that happened to a lead), at `occurred_at` (aware, UTC), and
    where it came from (`source`: a webhook's provider, `form`; None: the user's systems)."""

    id: str
    type: str
    occurred_at: datetime
    product: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    profile: Mapping[str, Any] | None = None
    source: str | None = None

    @property
    def trusted(self) -> bool:
        """From the user's own systems: its profile data may overwrite what others sent."""
        return self.source is None or self.source in TRUSTED_SOURCES


class EventError(ValueError):
    """An event that cannot be scored, with the field at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
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
    (the scorer also checks the windows either side, `retry_ids`, so one straddling a
    boundary is still a retry, in whichever order the two are scored)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    digest = "h-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
    if received_at is None or document.get("occurred_at") is not None:
        return digest
    return f"{digest}.{int(received_at.timestamp()) // RETRY_WINDOW}"


def retry_ids(event_id: str) -> list[str]:
    """The ids under which another delivery of the same event may be logged: its own, and
    for a content id with a window (`content_id`) the same content in the windows either side
    (SQS does not keep order: the later one may be scored first)."""
    digest, _, window = event_id.partition(".")
    if not (digest.startswith("h-") and len(digest) == 34 and window.isdigit()):
        return [event_id]
    return [event_id, f"{digest}.{int(window) - 1}", f"{digest}.{int(window) + 1}"]


def stored_size(value: Any) -> int:
    """Bytes of a JSON value as the table stores it (compact, non-ASCII escaped)."""
    return len(json.dumps(value, separators=(",", ":"), allow_nan=False, default=str))


def clip_profile_text(text: str) -> str:
    """The longest start of `text` that is a valid profile value (forms clip, never refuse)."""
    text = text[:MAX_PROFILE_TEXT]
    size = 2
    for end, character in enumerate(text):
        size += stored_size(character) - 2
        if size > MAX_PROFILE_VALUE_BYTES:
            return text[:end]
    return text


def _finite(value: Any) -> bool:
    """A number every reader takes: not NaN or infinite, and as an int within a float."""
    if isinstance(value, float):
        return math.isfinite(value)
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _check_name(field: str, name: Any) -> None:
    if not isinstance(name, str):
        raise EventError(field, "field names must be strings")
    if len(name) > MAX_NAME_CHARS:
        raise EventError(field, f"field names are at most {MAX_NAME_CHARS} characters")


def check_properties(properties: Mapping[str, Any]) -> None:
    """EventError when properties break a limit; the field is the path of the value at fault
    (`properties.url`, `properties.tags[3]`)."""
    if len(properties) > MAX_PROPERTIES:
        raise EventError("properties", f"at most {MAX_PROPERTIES} fields")
    for name in properties:
        _check_name(f"properties.{str(name)[:MAX_NAME_CHARS]}", name)
    # Walked with a stack, not recursion: a deep document must be refused, not overflow.
    pending: list[tuple[str, Any, int]] = [
        (f"properties.{name}", value, 1) for name, value in properties.items()
    ]
    while pending:
        path, value, depth = pending.pop()
        if isinstance(value, str) and len(value) > MAX_PROPERTY_TEXT:
            raise EventError(path, f"at most {MAX_PROPERTY_TEXT:,} characters")
        if isinstance(value, int | float) and not isinstance(value, bool) and not _finite(value):
            raise EventError(path, "must be a finite number")
        if isinstance(value, Mapping | list) and depth > MAX_PROPERTIES_DEPTH:
            raise EventError(path, f"nested more than {MAX_PROPERTIES_DEPTH} levels")
        if isinstance(value, Mapping):
            pending += [(f"{path}.{key}", item, depth + 1) for key, item in value.items()]
        elif isinstance(value, list):
            pending += [(f"{path}[{index}]", item, depth + 1) for index, item in enumerate(value)]
    if stored_size(properties) > MAX_PROPERTIES_BYTES:
        raise EventError("properties", f"at most {MAX_PROPERTIES_BYTES:,} bytes of JSON")


def _check_profile_value(field: str, value: Any) -> None:
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and len(value) > MAX_PROFILE_LIST:
        raise EventError(field, f"a list of at most {MAX_PROFILE_LIST} values")
    for item in items:
        if isinstance(item, int | float) and not isinstance(item, bool):
            if not _finite(item):
                raise EventError(field, "must be a finite number")
        elif not (item is None or isinstance(item, str | bool)):
            raise EventError(field, "must be a string, a number, a boolean, null or a list of them")
    if sum(len(item) for item in items if isinstance(item, str)) > MAX_PROFILE_TEXT:
        raise EventError(field, f"at most {MAX_PROFILE_TEXT:,} characters")
    if stored_size(value) > MAX_PROFILE_VALUE_BYTES:
        raise EventError(field, f"at most {MAX_PROFILE_VALUE_BYTES:,} bytes of JSON")


def check_profile(profile: Mapping[str, Any]) -> None:
    """EventError when a profile breaks a limit, naming the field (`profile.company`)."""
    if len(profile) > MAX_PROFILE_FIELDS:
        raise EventError("profile", f"at most {MAX_PROFILE_FIELDS} fields")
    for name, value in profile.items():
        field = f"profile.{str(name)[:MAX_NAME_CHARS]}"
        _check_name(field, name)
        _check_profile_value(field, value)
    if stored_size(profile) > MAX_PROFILE_BYTES:
        raise EventError("profile", f"at most {MAX_PROFILE_BYTES:,} bytes of JSON")


def check_limits(document: Mapping[str, Any]) -> None:
    """EventError when an event's document breaks a limit (MAX_*), naming the field at fault.

    Every way in applies it (`canonical_event`); events read back from the table do not, so
    one stored under earlier limits still reads."""
    raw_id = document.get("id")
    if isinstance(raw_id, str) and len(raw_id.strip().encode("utf-8", "surrogatepass")) > (
        MAX_ID_BYTES
    ):
        raise EventError("id", f"at most {MAX_ID_BYTES} bytes (UTF-8)")
    kind, product = document.get("type"), document.get("product")
    if isinstance(kind, str) and len(kind.strip()) > MAX_NAME_CHARS:  # kept stripped
        raise EventError("type", f"at most {MAX_NAME_CHARS} characters")
    if isinstance(product, str) and len(product) > MAX_NAME_CHARS:
        raise EventError("product", f"at most {MAX_NAME_CHARS} characters")
    properties = document.get("properties")
    if isinstance(properties, Mapping):
        check_properties(properties)
    profile = document.get("profile")
    if isinstance(profile, Mapping):
        check_profile(profile)


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
    source = document.get("source")
    if source is not None and (not isinstance(source, str) or len(source) > MAX_NAME_CHARS):
        raise EventError("source", f"must be a string of at most {MAX_NAME_CHARS} characters")
    return Event(
        id=raw_id.strip() if raw_id else content_id(document, received_at),
        type=kind.strip(),
        occurred_at=received_at if occurred is None else parse_time(occurred),
        product=product,
        properties=dict(properties),
        profile=dict(profile) if profile else None,
        source=source,
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
    return email, checked_event({**document, "email": email}, received_at)


def checked_event(document: Mapping[str, Any], received_at: datetime) -> Event:
    """An event document within the limits (`check_limits`) as an Event, however it came in
    (with an email, a website visitor's, a Segment call's); EventError names the field at
    fault, `occurred_at` for a time out of range."""
    check_limits(document)
    try:
        return event_from_dict(document, received_at)
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
        **({"source": event.source} if event.source is not None else {}),
    }
