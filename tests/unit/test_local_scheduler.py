"""Local schedules: EventBridge Scheduler expressions, the Input it sends, resumable jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from leadscore_tools.local.scheduler import ExpressionError, Timing, run_scheduled, scheduler_input
from leadscore_tools.template import Schedule

NOW = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)  # a Sunday


@pytest.mark.parametrize(
    ("expression", "timezone", "expected"),
    [
        ("cron(0 6 * * ? *)", "UTC", datetime(2026, 11, 23, 6, 0, tzinfo=UTC)),
        ("cron(0 6 * * ? *)", "Europe/Paris", datetime(2026, 11, 23, 5, 0, tzinfo=UTC)),
        ("cron(15 9 ? * MON-FRI *)", "UTC", datetime(2026, 11, 23, 9, 15, tzinfo=UTC)),
        ("cron(0/20 * * * ? *)", "UTC", datetime(2026, 11, 22, 13, 20, tzinfo=UTC)),
        ("cron(0 12 1 JAN,JUL ? 2027)", "UTC", datetime(2027, 1, 1, 12, 0, tzinfo=UTC)),
        ("cron(30 7 ? * 1 *)", "UTC", datetime(2026, 11, 29, 7, 30, tzinfo=UTC)),  # Sundays
        ("rate(5 minutes)", "UTC", datetime(2026, 11, 22, 13, 5, tzinfo=UTC)),
        ("rate(1 day)", "UTC", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),
        ("at(2027-03-01T08:00:00)", "America/New_York", datetime(2027, 3, 1, 13, 0, tzinfo=UTC)),
    ],
)
def test_next_firing_time(expression: str, timezone: str, expected: datetime) -> None:
    assert Timing(expression, timezone, NOW).next_after(NOW) == expected


def test_a_summer_time_zone_moves_the_utc_hour() -> None:
    july = datetime(2027, 7, 1, 0, 0, tzinfo=UTC)
    fired = Timing("cron(0 6 * * ? *)", "Europe/Paris", july).next_after(july)
    assert fired == datetime(2027, 7, 1, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "expression", ["cron(0 6 L * ? *)", "cron(0 6 * *)", "every day", "rate(0 minutes)"]
)
def test_expressions_it_cannot_evaluate_are_refused(expression: str) -> None:
    with pytest.raises((ExpressionError, ValueError)):
        Timing(expression, "UTC", NOW)


def schedule(input_text: str | None) -> Schedule:
    return Schedule("DecayFunction", "Daily", "cron(0 6 * * ? *)", "UTC", input_text, True, 3)


def test_the_input_gets_the_scheduled_time() -> None:
    event = scheduler_input(schedule('{"time": "<aws.scheduler.scheduled-time>"}'), NOW)
    assert event == {"time": "2026-11-22T13:00:00Z"}
    assert scheduler_input(schedule(None), NOW) == {}


class ResumableJob:
    name = "DecayFunction"

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        done = len(self.events) >= self.pages
        return {"complete": done, "cursor": None if done else f"c{len(self.events)}"}


def test_an_unfinished_run_is_continued_with_its_cursor() -> None:
    job = ResumableJob(pages=3)
    outcome = run_scheduled(job, schedule('{"time": "<aws.scheduler.scheduled-time>"}'), NOW)  # type: ignore[arg-type]
    assert outcome["invocations"] == 3 and outcome["result"]["complete"] is True
    assert [e.get("cursor") for e in job.events] == [None, "c1", "c2"]
    assert {e["time"] for e in job.events} == {"2026-11-22T13:00:00Z"}
