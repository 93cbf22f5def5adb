"""Anonymous website visitors: the id the tracking snippet keeps in its `ls_vid` cookie, and
how long what a visitor did is kept and credited (contract §3 "Website tracking")."""

from __future__ import annotations

import re
from typing import Any

from leadscore.domain.events import EventError

# Random, from the snippet (no personal data): 16 to 64 URL-safe characters.
VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
KEEP_DAYS = 90  # an anonymous visitor's events are forgotten after this (DynamoDB TTL)
CREDIT_DAYS = 30  # when a visitor becomes a lead, its events of these last days are credited
MAX_VISITORS = 20  # visitors (devices) a public source may link to one lead; your systems more


def visitor_id(value: Any, field: str = "visitor") -> str:
    """The visitor id as sent; EventError naming `field` when it is not one."""
    if not isinstance(value, str) or VISITOR_ID.fullmatch(value) is None:
        raise EventError(field, "a visitor id: 16 to 64 letters, digits, '-' or '_'")
    return value


def valid_visitor(value: Any) -> str | None:
    """The visitor id in a field the public types (a form's, a call's), stripped; None when it
    is not one: a bad value is ignored, never a reason to refuse what carries it."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if VISITOR_ID.fullmatch(value) else None
