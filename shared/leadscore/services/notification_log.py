"""The notification log: what sales were sent, or are about to be, kept 30 days.

A write that records a notification pending (on a lead's state or an account) also writes its
log entry, in a partition of the day it was recorded, and a pointer to it under the lead it
names, so that erasure finds it. The publisher marks it sent. `GET /v1/notifications` reads
today's partition, then earlier days', until a page is full; its cursor is signed as the
lists' are (services/lists.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadscore.domain.emails import EmailError, lead_key
from leadscore.domain.notifications import Notification
from leadscore.domain.times import iso
from leadscore.services.lists import read_cursor, sign_cursor
from leadscore.services.store import AccountRecord, LeadRecord, LeadStore, StateRecord

NOTIFICATION_LOG_DAYS = 30  # one partition a day, kept this long
DAY_SECONDS = 86_400
BINDING = {"kind": "notifications"}  # what a cursor of this list carries


@dataclass(slots=True)
class LoggedNotification:
    """A notification in the log, placed by when it was recorded (`recorded_at`); `lead`: the
    key of the lead it names, under which its pointer is (None: it names none)."""

    id: str
    kind: str
    model: str
    subject: str
    recorded_at: int
    transition_at: int  # when the lead or account crossed the threshold (it may be earlier)
    email: str | None = None
    lead: str | None = None
    sent_at: int | None = None

    @property
    def day(self) -> str:
        return log_day(self.recorded_at)

    @property
    def place(self) -> str:
        """Its order within its day: newest last (the log is read from the end)."""
        return f"{self.recorded_at:011d}#{self.id}"

    @property
    def expires_at(self) -> int:
        return self.recorded_at + NOTIFICATION_LOG_DAYS * DAY_SECONDS


def log_day(at: int) -> str:
    """The log's partition of a moment: its UTC date, 2026-11-01."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def logged(notification: Notification, model: str) -> LoggedNotification:
    """The log's entry of a notification (one recorded without its time, as the log never
    had it, is placed at its transition's)."""
    email = notification.document.get("email")
    email = email if isinstance(email, str) else None
    try:
        lead = None if email is None else lead_key(email)
    except EmailError:
        lead = None
    transition = _transition_time(notification.id)
    recorded = transition if notification.recorded_at is None else notification.recorded_at
    return LoggedNotification(
        notification.id,
        notification.kind,
        model,
        notification.subject,
        recorded,
        transition,
        email,
        lead,
    )


def notifications_of(record: LeadRecord) -> list[LoggedNotification]:
    """The log entries a record's write adds: those of the notifications it records (their
    `recorded_at` is its `updated_at`); those recorded by an earlier write are logged already."""
    if not isinstance(record, StateRecord | AccountRecord):
        return []
    return [
        logged(notification, record.model)
        for notification in record.pending.values()
        if notification.recorded_at == record.updated_at
    ]


def log_items(record: LeadRecord) -> int:
    """The items a record's log entries add to its transaction: each, and its pointer."""
    return sum(1 + (entry.lead is not None) for entry in notifications_of(record))


def recent_notifications(
    store: LeadStore, limit: int, cursor: str | None, key: bytes, now_s: int
) -> dict[str, Any]:
    """A page: `{"notifications": [...], "next_cursor": ...}` (CursorRefused for a cursor
    not ours)."""
    place = read_cursor(cursor, BINDING, key, now_s)
    days = [log_day(now_s - back * DAY_SECONDS) for back in range(NOTIFICATION_LOG_DAYS + 1)]
    at, before = (0, None) if place is None else (_index(days, str(place[0])), place[1])
    found: list[LoggedNotification] = []
    while len(found) < limit and at < len(days):
        entries = store.notification_log(days[at], limit - len(found), before)
        found += entries
        if len(found) < limit:  # this day is read to its start
            at, before = at + 1, None
        else:
            before = entries[-1].place
    more = len(found) == limit and at < len(days)
    following = sign_cursor([days[at], before], BINDING, key, now_s) if more else None
    return {"notifications": [_item(entry) for entry in found], "next_cursor": following}


def _transition_time(notification_id: str) -> int:
    """The transition's epoch a notification's id ends with (0 for an id without one)."""
    tail = notification_id.rpartition(":")[2]
    return int(tail) if tail.isdigit() else 0


def _index(days: list[str], day: str) -> int:
    """Where a cursor's day is among the days the log keeps (past them: nothing is left)."""
    return days.index(day) if day in days else len(days)


def _item(entry: LoggedNotification) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "email": entry.email,
        "model": entry.model,
        "subject": entry.subject,
        "created_at": iso(entry.recorded_at),
        "state": "pending" if entry.sent_at is None else "sent",
        "sent_at": iso(entry.sent_at),
    }
