"""A rule's limit per window ("only the first open counts"): the earliest events are kept."""

from __future__ import annotations

from typing import Any

from leadscore.domain.compiled import DAY, Rule
from leadscore.domain.events import Event
from leadscore.domain.state import MAX_LIMIT_KEYS, LeadState


def apply_limit(
    state: LeadState, rule: Rule, event: Event, at: int, tag: str, points: int
) -> tuple[int, int, bool]:
    """Keep the earliest `count` events per window.

    Returns (points gained, events counted, limited): an earlier event arriving late takes
    the place of the latest one counted, gaining the difference and counting none.
    """
    limit = rule.limit
    assert limit is not None
    value = "" if limit.key is None else event.properties.get(limit.key, "")
    if type(value) is not str or len(value) > 200:
        value = str(value)[:200]
    if limit.per == "ever":
        slot_key = value + "|"
    elif limit.per == "day":
        slot_key = f"{value}|{at // DAY}"  # UTC days
    else:  # weeks from Monday (1970-01-01 was a Thursday)
        slot_key = f"{value}|{(at + 3 * DAY) // (7 * DAY)}"
    slots = state.limits.get(rule.key)
    if slots is None:
        slots = state.limits[rule.key] = {}
    slot = slots.get(slot_key)
    if slot is None:
        slots[slot_key] = [[at, tag, points]]
        if len(slots) > MAX_LIMIT_KEYS:
            _evict(slots)
        return points, 1, False
    if len(slot) < limit.count:
        entry = [at, tag, points]
        slot.append(entry)
        if entry < slot[-2]:  # events come in time order, unless some were scored earlier
            slot.sort()
        return points, 1, False
    latest = slot[-1]
    if (at, tag) >= (latest[0], latest[1]):
        return 0, 0, True
    slot[-1] = [at, tag, points]
    slot.sort()
    return points - int(latest[2]), 0, False


def _evict(slots: dict[str, list[list[Any]]]) -> None:
    """Bound the state: forget the window whose last counted event is the oldest."""
    oldest = min(slots, key=lambda k: (max(e[0] for e in slots[k]), k))
    del slots[oldest]
