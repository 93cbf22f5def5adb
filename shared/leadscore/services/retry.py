"""The one retry policy for writes that lose a race: run rounds until nothing conflicts."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

Pending = TypeVar("Pending", bound=dict)  # type: ignore[type-arg]

BASE_DELAY = 0.02  # seconds; doubled each round, with full jitter


def until_settled(
    attempt_round: Callable[[Pending, int], Pending],
    pending: Pending,
    attempts: int,
    sleep: Callable[[float], None] = time.sleep,
) -> Pending:
    """Call `attempt_round(pending, attempt)` until it returns nothing left to retry or the
    attempts are spent; returns what is still pending (the caller fails or defers it).

    Between rounds it waits a random time up to BASE_DELAY * 2**attempt, so that writers
    that conflicted on one item do not meet again at once."""
    for attempt in range(attempts):
        if not pending:
            break
        if attempt:
            sleep(random.uniform(0, BASE_DELAY * 2**attempt))
        pending = attempt_round(pending, attempt)
    return pending
