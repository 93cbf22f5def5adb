"""Reading native webhook bodies safely and turning native events into canonical events."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parseaddr
from typing import Any
from urllib.parse import parse_qsl

from leadscore.domain import strict_json
from leadscore.domain.emails import EmailError, normalize_email
from leadscore.domain.events import clip_profile_text

from .interface import IgnoredEvent, WebhookFormatError, WebhookRequest

# Lambda's synchronous payload limit; API Gateway would refuse anything larger anyway.
MAX_BODY_BYTES = 6 * 1024 * 1024
MAX_FORM_FIELDS = 2000
MAX_TEXT = 512
MAX_URL = 2048

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Epoch values above this are milliseconds: as seconds they would fall after the year 5138.
MILLISECONDS_FROM = Decimal(100_000_000_000)
LAST_SECOND = Decimal(253_402_300_799)  # 9999-12-31T23:59:59Z

ISO_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
# Form labels (lower-case words) that name a profile field; the first rule that matches wins,
# so "company size" is tried before "company". A longer label ("What is your first name?")
# matches on a phrase, or on a word that cannot mean anything else ("Which industry...?").
PROFILE_LABELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("first_name", ("first name", "firstname", "given name", "fname", "first")),
    ("last_name", ("last name", "lastname", "surname", "family name", "lname", "last")),
    ("full_name", ("full name", "fullname", "your name", "name", "contact name")),
    ("company_size", ("company size", "employees", "number of employees", "headcount", "size")),
    ("annual_revenue", ("annual revenue", "revenue")),
    ("job_title", ("job title", "jobtitle", "title", "role", "position")),
    ("company", ("company", "company name", "organization", "organisation", "business")),
    ("industry", ("industry", "sector")),
    ("country", ("country",)),
    ("phone", ("phone", "phone number", "mobile", "telephone", "tel")),
    ("website", ("website", "web site", "homepage", "company website", "site url")),
)
TELLING_WORDS = frozenset(
    {"industry", "sector", "country", "phone", "telephone", "website", "revenue", "employees",
     "headcount", "surname", "firstname", "lastname", "jobtitle"}
)  # fmt: skip


# --- bodies -------------------------------------------------------------------------------


def load_json(body: bytes, provider: str) -> Any:
    """Parse a JSON body; anything that is not JSON is the sender's fault (400)."""
    try:
        return strict_json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError covers syntax errors, NaN and infinities, and integers longer than
        # Python will convert.
        raise WebhookFormatError(f"{provider}: the body is not valid JSON") from None


def load_json_lines(body: bytes, provider: str) -> list[Any]:
    """Parse a JSON Lines body (one JSON document per non-empty line)."""
    return [load_json(line, provider) for line in body.splitlines() if line.strip()]


def load_form(request: WebhookRequest) -> dict[str, str]:
    """Parse a urlencoded or multipart/form-data body into {name: value} (first value wins)."""
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return _load_multipart(request.body, content_type, request.provider)
    try:
        pairs = parse_qsl(
            request.body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise WebhookFormatError(f"{request.provider}: the body is not a readable form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def _load_multipart(body: bytes, content_type: str, provider: str) -> dict[str, str]:
    from email.parser import BytesParser  # only multipart bodies need it (a few ms to import)
    from email.policy import HTTP

    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode(
        "latin-1", "replace"
    )
    message = BytesParser(policy=HTTP).parsebytes(header + body)
    if not message.is_multipart():
        raise WebhookFormatError(f"{provider}: the multipart body has no parts")
    form: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes) and len(form) < MAX_FORM_FIELDS:
            form.setdefault(name, payload.decode("utf-8", "replace"))
    return form


def nested_json(value: Any) -> Any:
    """A JSON document carried as a string inside another payload, or None."""
    if not isinstance(value, str) or len(value) > MAX_BODY_BYTES:
        return None
    try:
        return strict_json.loads(value)
    except (ValueError, RecursionError):
        return None


# --- values ---------------------------------------------------------------------------------


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else an empty one (absent and malformed look alike)."""
    return value if isinstance(value, Mapping) else {}


def objects(value: Any) -> list[Mapping[str, Any]]:
    """The JSON objects in a list (a lone object counts as a list of one)."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return []


def dig(value: Any, *path: str) -> Any:
    """value[path[0]][path[1]]..., or None as soon as a step is missing."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A short trimmed string from a JSON string or number, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value) if abs(value) < 10**30 else None
    if isinstance(value, float):
        value = repr(value)
    if not isinstance(value, str):
        return None
    cleaned = value[: limit * 2].strip()[:limit]
    return cleaned or None


def first_text(*values: Any, limit: int = MAX_TEXT) -> str | None:
    """The first of `values` that is usable text."""
    for value in values:
        found = text(value, limit)
        if found is not None:
            return found
    return None


def flag(value: Any) -> bool:
    """A JSON boolean, or the strings "true"/"1" some platforms send instead."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in {"true", "1", "yes"}


def email_address(value: Any) -> str | None:
    """The address in a platform's email field (bare or "Name <addr>"), in its canonical form
    by the one email rule (domain/emails.py), or None when it holds no usable address."""
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        return None
    candidate = value.strip()
    if "<" in candidate:
        candidate = parseaddr(candidate)[1]
    try:
        return normalize_email(candidate)
    except EmailError:
        return None


# --- times ----------------------------------------------------------------------------------


def epoch_time(value: Any) -> datetime | None:
    """Epoch seconds or milliseconds (number or numeric string) as an aware UTC time."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))  # repr keeps the digits the platform sent
        elif isinstance(value, str) and len(value) <= 40:
            number = Decimal(value.strip())
        else:
            return None
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number < 0:
        return None
    if number >= MILLISECONDS_FROM:
        number /= 1000
    if number > LAST_SECOND:
        return None
    seconds = int(number)
    microseconds = int((number - seconds) * 1_000_000)
    return EPOCH + timedelta(seconds=seconds, microseconds=microseconds)


def iso_time(value: Any) -> datetime | None:
    """ISO-8601 (or "YYYY-MM-DD HH:MM:SS") as an aware UTC time.

    A time without a zone is taken as UTC: the platforms that send one (Mailchimp,
    Unisender Go) document or use UTC server time.
    """
    if not isinstance(value, str) or len(value) > 64:
        return None
    match = ISO_TIME.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),  # .NET sends 7 digits: truncate
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if zone and zone.upper() not in {"Z", "UTC", "GMT"}:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if offset >= timedelta(hours=24):
            return None
        try:
            moment -= sign * offset
        except OverflowError:
            return None
    return moment


def any_time(value: Any) -> datetime | None:
    """Epoch (s or ms) or ISO-8601, whichever `value` is."""
    return epoch_time(value) or iso_time(value)


def iso_z(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z, the shape `POST /v1/events` takes."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- canonical events -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NativeEvent:
    """One event in the platform's own terms, as read from a payload, before it is judged.

    `kind` is the canonical type, or None for the platform events nobody scores (sends,
    deferrals, drops, list changes...), in which case `why` says what it was. `visitor` is
    the website visitor id a form's hidden field carried (a valid one, or None).
    """

    native_event: str
    kind: str | None
    email: Any
    occurred_at: datetime | None = None
    provider_event_id: str | None = None
    message_id: str | None = None
    campaign: str | None = None
    url: str | None = None
    bounce_kind: str | None = None
    form: str | None = None
    why: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    profile: Mapping[str, Any] | None = None
    visitor: str | None = None


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a provider read from one request."""

    events: list[NativeEvent]
    confirm_url: str | None = None


def canonical(
    provider: str, natives: Iterable[NativeEvent], now: datetime
) -> tuple[list[dict[str, Any]], list[IgnoredEvent]]:
    """Split native events into canonical events (scored) and ignored ones."""
    events: list[dict[str, Any]] = []
    ignored: list[IgnoredEvent] = []
    for native in natives:
        email = email_address(native.email)
        if native.kind is None:
            why = native.why or "not an event leads are scored on"
            ignored.append(IgnoredEvent(native.native_event, why, email, native.provider_event_id))
        elif email is None:
            ignored.append(
                IgnoredEvent(
                    native.native_event,
                    "no usable email address",
                    None,
                    native.provider_event_id,
                )
            )
        else:
            events.append(_event(provider, native, email, now))
    return events, ignored


def _event(provider: str, native: NativeEvent, email: str, now: datetime) -> dict[str, Any]:
    occurred = native.occurred_at
    properties: dict[str, Any] = {
        "provider": provider,
        "native_event": native.native_event,
        "provider_event_id": native.provider_event_id,
        "message_id": native.message_id,
        # What "the same email" means when a model counts only the first open of each one.
        "campaign": native.campaign or native.message_id,
        "url": native.url,
        "bounce_kind": native.bounce_kind,
        "form": native.form,
    }
    properties.update(native.extra)
    event: dict[str, Any] = {
        "id": event_id(provider, native, email),
        "email": email,
        "type": native.kind,
        # A platform that gives no time sends in real time: the moment of receipt stands in.
        "occurred_at": iso_z(occurred or now),
        "properties": {k: v for k, v in properties.items() if v is not None},
    }
    if native.profile:
        event["profile"] = dict(native.profile)
    if native.visitor:
        event["visitor"] = native.visitor  # not scored: the API puts it on the queue entry
    return event


def event_id(provider: str, native: NativeEvent, email: str) -> str:
    """Deterministic per real event: a retried webhook gives the same id, distinct events differ.

    Platform event ids alone are not enough (test payloads and docs reuse placeholder ids,
    SES sends one notification for several recipients), so the id hashes them with what
    tells events apart. The receipt time is left out, or a retry would change the id.
    """
    material = [
        provider,
        native.provider_event_id,
        native.native_event,
        email,
        iso_z(native.occurred_at) if native.occurred_at else None,
        native.url,
        native.message_id,
    ]
    digest = hashlib.sha256(json.dumps(material, separators=(",", ":")).encode()).hexdigest()
    return f"{provider}-{digest[:32]}"


# --- form answers -> profile ----------------------------------------------------------------


def label_key(label: str) -> str:
    """A form label in plain lower-case words ("First_Name:" -> "first name")."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", label.lower()).split())


def profile_field(label: str) -> str | None:
    """The profile key a form label names, "full_name" for a whole name, or None."""
    words = label_key(label)
    if not words:
        return None
    padded = f" {words} "
    for key, names in PROFILE_LABELS:
        if any(words == name for name in names):
            return key
    for key, names in PROFILE_LABELS:
        # A question that merely mentions a vague word ("title", "company") is not the field.
        if any((" " in name or name in TELLING_WORDS) and f" {name} " in padded for name in names):
            return key
    return None


def profile_from_answers(answers: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """The known profile fields among (label, value) form answers."""
    profile: dict[str, Any] = {}
    full_name: str | None = None
    for label, value in answers:
        key = profile_field(label)
        if key is None:
            continue
        if key in {"company_size", "annual_revenue"} and _is_number(value):
            profile.setdefault(key, value)
            continue
        answer = text(value, 200)
        if answer is None:
            continue
        answer = clip_profile_text(answer)  # 200 emoji would be 2,402 bytes as stored
        if key == "full_name":
            full_name = full_name or answer
        else:
            profile.setdefault(key, answer)
    if full_name and "first_name" not in profile and "last_name" not in profile:
        first, _, last = full_name.partition(" ")
        profile["first_name"] = first
        if last.strip():
            profile["last_name"] = last.strip()
    return profile


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 10**15
