"""Scoring-queue messages: several canonical events per message body, under the SQS size limit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from leadscore.domain.events import (
    Event,
    EventError,
    canonical_event,
    checked_event,
    event_to_dict,
)
from leadscore.domain.packing import packed
from leadscore.domain.visitors import visitor_id

MAX_MESSAGE_BYTES = 240_000  # SQS allows 256 KiB; headroom for attributes and the envelope
EVENTS_BYTES = MAX_MESSAGE_BYTES - 100  # what a message's events may take beside its header
# How far after its arrival an event may be dated (clocks differ): a later date is taken as
# its arrival, so that no event can pin a lead's profile fields or hold off its decay.
FUTURE_SKEW = timedelta(minutes=5)


class QueueMessageError(ValueError):
    """A queue message that cannot be read (it fails alone and goes to the DLQ)."""


class Entry(NamedTuple):
    """One event to enqueue: a lead's (`email`), an anonymous visitor's (`visitor` alone), or
    a lead's that names the visitor it was (a form post from a page with the snippet)."""

    email: str | None
    event: Event
    visitor: str | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """One event, as the scorer receives it: a lead's, or (`email` empty) an anonymous
    visitor's; `visitor` also names the visitor a lead's event links to the lead."""

    email: str
    event: Event
    received_at: int  # epoch seconds the API accepted it
    dated: datetime | None = None  # the future date it was sent with, taken as its arrival
    visitor: str | None = None
    # A visitor's event handed to its lead: when the link it went through was made.
    linked_at: int | None = None


def arrival_bounded(event: Event, received_at: datetime) -> Event:
    """The event, dated no later than its arrival (within FUTURE_SKEW)."""
    if event.occurred_at <= received_at + FUTURE_SKEW:
        return event
    return replace(event, occurred_at=received_at)


def encode(entries: Iterable[tuple[str, Event] | Entry], received_at: datetime) -> Iterator[str]:
    """Pack (email, event) pairs and entries into as few message bodies as the size limit
    allows."""
    header = {"v": 1, "received_at": int(received_at.timestamp())}
    # Each event weighs its JSON and the comma after it; the last one's comma is in the limit.
    for batch in packed((_sized(entry) for entry in entries), lambda e: e[1] + 1, EVENTS_BYTES + 1):
        events = [item for item, _ in batch]
        yield json.dumps({**header, "events": events}, separators=(",", ":"), ensure_ascii=False)


def _sized(entry: tuple[str, Event] | Entry) -> tuple[dict[str, Any], int]:
    """An entry as a message's event, with its size in the message (refused if too large)."""
    email, event, visitor = entry if isinstance(entry, Entry) else Entry(*entry)
    item = {
        **({} if email is None else {"email": email}),
        **({} if visitor is None else {"visitor": visitor}),
        **event_to_dict(event),
    }
    size = len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode())
    if size > EVENTS_BYTES:
        raise EventError("event", "too large for the scoring queue")
    return item, size


@dataclass(frozen=True, slots=True)
class Message:
    """A scoring message as read: its events, and those of its events that cannot be read,
    as they came, each with the reason (they fail alone: the others are scored)."""

    received_at: int
    incoming: list[Incoming]
    unreadable: list[tuple[Any, str]]

    def unreadable_body(self) -> str:
        """The unreadable events as a message of their own, for the dead-letter queue."""
        events = [document for document, _ in self.unreadable]
        header = {"v": 1, "received_at": self.received_at, "events": events}
        return json.dumps(header, separators=(",", ":"), ensure_ascii=False, default=str)


def read(body: str) -> Message:
    """Read a message body; QueueMessageError when it is not one of ours."""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, TypeError):
        raise QueueMessageError("body is not JSON") from None
    if not isinstance(document, Mapping) or document.get("v") != 1:
        raise QueueMessageError("not a version-1 scoring message")
    received = document.get("received_at")
    items = document.get("events")
    if not isinstance(received, int) or not isinstance(items, list):
        raise QueueMessageError("missing received_at or events")
    received_at = datetime.fromtimestamp(received, UTC)
    message = Message(received, [], [])
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            message.unreadable.append((item, f"events[{index}] is not an object"))
            continue
        try:
            email, event, visitor = _entry(item, received_at)
        except EventError as error:
            message.unreadable.append((item, f"events[{index}].{error.field}: invalid"))
            continue
        bounded = arrival_bounded(event, received_at)
        dated = None if bounded is event else event.occurred_at
        message.incoming.append(Incoming(email, bounded, received, dated, visitor))
    return message


def _entry(item: Mapping[str, Any], received_at: datetime) -> tuple[str, Event, str | None]:
    """A message item as (email, event, visitor): the email empty for a visitor's event."""
    visitor = None if item.get("visitor") is None else visitor_id(item["visitor"])
    if visitor is not None and "email" not in item:
        return "", checked_event(item, received_at), visitor
    email, event = canonical_event(item, received_at)
    return email, event, visitor


def decode(body: str) -> list[Incoming]:
    """A message's events; QueueMessageError when it is not one of ours or one of its events
    cannot be read."""
    message = read(body)
    if message.unreadable:
        raise QueueMessageError(message.unreadable[0][1])
    return message.incoming
