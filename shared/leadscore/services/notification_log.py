"""The recent notifications and their delivery state (`GET /v1/notifications`), newest first.

The store keeps a log partition per day (services/store.py `LoggedNotification`); a page
reads today's, then earlier days', until it is full or the log's days are read. Its cursor
is signed as the lists' are (services/lists.py).
"""

from __future__ import annotations

from typing import Any

from leadscore.domain.times import iso
from leadscore.services.lists import read_cursor, sign_cursor
from leadscore.services.store import (
    DAY_SECONDS,
    NOTIFICATION_LOG_DAYS,
    LeadStore,
    LoggedNotification,
    log_day,
)

BINDING = {"kind": "notifications"}  # what a cursor of this list carries


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
        "created_at": iso(entry.created_at),
        "state": "pending" if entry.sent_at is None else "sent",
        "sent_at": iso(entry.sent_at),
    }
