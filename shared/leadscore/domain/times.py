"""Moments as the engine keeps them (integer epoch seconds) and as answers show them (ISO 8601)."""

from __future__ import annotations

from datetime import UTC, datetime

from leadscore.domain.compiled import DAY

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch(moment: datetime) -> int:
    """`int(moment.timestamp())`, in integers: a third cheaper, and exact."""
    if moment.tzinfo is None:  # naive: local time, as `timestamp` reads it
        return int(moment.timestamp())
    since = moment - EPOCH
    seconds = since.days * DAY + since.seconds
    return seconds + 1 if seconds < 0 and since.microseconds else seconds  # toward zero


def iso(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
