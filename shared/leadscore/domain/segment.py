"""Segment and RudderStack calls (their common spec: track, page, screen, identify, alias,
group) as scoring-queue entries; event names become canonical types by a configurable table.

A Segment source is the user's own system by default: its calls are trusted (source "segment").
A source fed by analytics.js in browsers forwards whatever a visitor types (its write key is
public): a stack told so (SegmentTrusted false) takes its calls as the snippet's, untrusted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from leadscore.domain.emails import EmailError, normalize_email
from leadscore.domain.events import EventError, checked_event, parse_time
from leadscore.domain.messages import Entry
from leadscore.domain.visitors import valid_visitor

SOURCE = "segment"
# Not in TRUSTED_SOURCES: fills empty profile fields only, held to the hourly allowance of
# untrusted events, and cannot move a visitor from one lead to another.
BROWSER_SOURCE = "segment-browser"
# A type a call may become: lower snake case, as the canonical types are.
TYPE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Segment's spec names (B2B SaaS, Email and Video specs) and common ones -> canonical types;
# any other name becomes its snake case ("Trial Started" -> trial_started). Compared
# without case. LEADSCORE_SEGMENT_EVENTS (a JSON object) adds to it or overrides it.
DEFAULT_EVENTS = {
    "Form Submitted": "form_submit",
    "Demo Requested": "demo_request",
    "Email Delivered": "email_delivered",
    "Email Opened": "email_open",
    "Email Link Clicked": "email_click",
    "Email Bounced": "email_bounce",
    "Unsubscribed": "email_unsubscribe",
    "Email Marked as Spam": "email_spam_complaint",
    "Webinar Registered": "webinar_registered",
    "Webinar Attended": "webinar_attended",
    "Meeting Booked": "meeting_booked",
    "File Downloaded": "download",
    "Page Viewed": "page_view",
}
# Segment trait -> profile field (dotted: a nested trait). `company` may also be an object.
TRAITS = {
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "company": "company",
    "company.name": "company",
    "title": "job_title",
    "industry": "industry",
    "company.industry": "industry",
    "employees": "company_size",
    "company.employee_count": "company_size",
    "address.country": "country",
    "country": "country",
    "phone": "phone",
    "website": "website",
}
# A group call's traits describe the company.
GROUP_TRAITS = {"name": "company", "industry": "industry", "employees": "company_size",
                "website": "website", "address.country": "country"}  # fmt: skip
CALLS = ("track", "page", "screen", "identify", "alias", "group")

Profile = Callable[[Mapping[str, Any]], dict[str, Any]]


def event_table(setting: str = "") -> dict[str, str]:
    """The event-name table: the defaults, then the setting's JSON object (name -> type);
    ValueError when the setting is not one."""
    table = {name.lower(): kind for name, kind in DEFAULT_EVENTS.items()}
    if not setting.strip():
        return table
    try:
        extra = json.loads(setting)
    except ValueError:
        raise ValueError("LEADSCORE_SEGMENT_EVENTS is not JSON") from None
    if not isinstance(extra, dict):
        raise ValueError("LEADSCORE_SEGMENT_EVENTS must be a JSON object: event name -> type")
    for name, kind in extra.items():
        if not isinstance(kind, str) or TYPE_NAME.fullmatch(kind) is None:
            raise ValueError(f"LEADSCORE_SEGMENT_EVENTS: {name!r} -> {kind!r} is not a type name")
        table[name.strip().lower()] = kind
    return table


def event_type(name: Any, table: Mapping[str, str]) -> str:
    """A track call's event name as a type: the table's, else its snake case."""
    if not isinstance(name, str) or not name.strip():
        raise EventError("event", "required, a non-empty string")
    if found := table.get(name.strip().lower()):
        return found
    snake = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:64].rstrip("_")
    if not snake or not snake[0].isalpha():
        raise EventError("event", "must start with a letter once in snake case")
    return snake


def _get(document: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(document, Mapping):
            return None
        document = document.get(part)
    return document


def _object(call: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = call.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EventError(name, "must be an object")
    return value


def mapped_traits(traits: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """Traits -> profile fields by `names`; only text and numbers (the first trait found wins)."""
    fields: dict[str, Any] = {}
    for trait, profile_field in names.items():
        value = _get(traits, trait)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            fields.setdefault(profile_field, value)
    return fields


def _email(value: Any) -> str | None:
    try:
        return normalize_email(value) if isinstance(value, str) else None
    except EmailError:
        return None


def lead_of(call: Mapping[str, Any]) -> str | None:
    """userId when it is an email, else traits.email (identify), else context.traits.email."""
    context = _object(call, "context")
    candidates = [call.get("userId")]
    if call.get("type") == "identify":
        candidates.append(_get(call, "traits.email"))
    candidates.append(_get(context, "traits.email"))
    return next((found for value in candidates if (found := _email(value))), None)


def _page_properties(call: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    page = _object(_object(call, "context"), "page")
    found = dict(properties)
    for name in ("url", "referrer", "title", "path"):
        if name not in found and isinstance(page.get(name), str):
            found[name] = page[name]
    if isinstance(call.get("name"), str):
        found.setdefault("name", call["name"])
    return found


def call_entries(
    call: Any,
    received_at: datetime,
    table: Mapping[str, str],
    profile: Profile,
    trusted: bool = True,
) -> list[Entry]:
    """One call as queue entries (none when it names neither a lead nor a visitor); EventError
    names the call's field at fault. `profile` reads profile fields as the forms do; `trusted`
    False: the source may carry what browsers send (BROWSER_SOURCE)."""
    if not isinstance(call, Mapping):
        raise EventError("", "a call must be a JSON object")
    kind = call.get("type")
    if kind not in CALLS:
        raise EventError("type", f"one of {', '.join(CALLS)}")
    message_id = call.get("messageId")
    if not isinstance(message_id, str) or not message_id.strip():
        raise EventError("messageId", "required, a non-empty string (it makes delivery idempotent)")
    when = call.get("timestamp") or call.get("originalTimestamp")
    if not isinstance(when, str | None):
        raise EventError("timestamp", "must be an ISO-8601 string")
    try:
        occurred = received_at if when is None else parse_time(when, "timestamp")
    except EventError:
        raise
    except (OverflowError, OSError, ValueError):
        raise EventError("timestamp", "out of range") from None
    properties = _object(call, "properties")
    traits = _object(call, "traits")
    email, visitor = lead_of(call), valid_visitor(call.get("anonymousId"))
    source = SOURCE if trusted else BROWSER_SOURCE
    document: dict[str, Any] = {"id": f"segment-{message_id.strip()}", "source": source}
    if kind == "track":
        document |= {"type": event_type(call.get("event"), table), "properties": properties}
    elif kind == "page":
        document |= {"type": "page_view", "properties": _page_properties(call, properties)}
    elif kind == "screen":
        document |= {"type": "screen_view", "properties": _page_properties(call, properties)}
    elif kind == "identify":
        document |= {"type": "identify", "profile": profile(mapped_traits(traits, TRAITS))}
    elif kind == "group":
        document |= {"type": "identify", "profile": profile(mapped_traits(traits, GROUP_TRAITS))}
        group = call.get("groupId")
        document["properties"] = {"group_id": group[:256]} if isinstance(group, str) else {}
    else:  # alias: the visitor it was (previousId) is now this lead (userId)
        document["type"] = "identify"
        visitor = valid_visitor(call.get("previousId"))
    if email is None and (visitor is None or kind in ("identify", "alias", "group")):
        return []  # nobody to credit: an identity call needs a lead, behaviour a lead or visitor
    if kind == "alias" and visitor is None:
        return []  # nothing to link
    document["occurred_at"] = occurred
    document["profile"] = document.get("profile") or None
    return [Entry(email, checked_event(document, received_at), visitor)]
