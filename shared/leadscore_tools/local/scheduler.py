"""Scheduled functions (EventBridge Scheduler): cron/rate/at expressions in their timezone.

Each schedule fires while the stack runs, and on demand (`POST /_local/schedule/{function}`),
with the template's Input and `<aws.scheduler.scheduled-time>` set to the firing time.
"""

from __future__ import annotations

import calendar
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from leadscore_tools.intrinsics import ACCOUNT_ID
from leadscore_tools.local.functions import LocalFunction
from leadscore_tools.local.logs import log
from leadscore_tools.template import Schedule

_MONTHS = {name.upper(): n for n, name in enumerate(calendar.month_abbr) if name}
_DAYS = {name: n for n, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
MAX_CONTINUATIONS = 1000  # a job that keeps answering `complete: false` is stopped here


class ExpressionError(ValueError):
    """A schedule expression the local stack cannot evaluate."""


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """The values a cron field allows; None for `?` or `*` (anything)."""
    if text in ("?", "*"):
        return None
    values: set[int] = set()
    for part in text.upper().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first_text, last_text = span.split("-", 1)
            first, last = _number(first_text, names), _number(last_text, names)
        else:
            first = _number(span, names)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high) or step < 1:
            raise ExpressionError(f"{part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return values


def _number(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise ExpressionError(f"{text!r} is not supported locally (L, W and # are not)")
    return int(text)


class Cron:
    """`cron(minutes hours day-of-month month day-of-week year)`, as EventBridge reads it."""

    def __init__(self, fields: str) -> None:
        parts = fields.split()
        if len(parts) != 6:
            raise ExpressionError("a cron expression has 6 fields")
        minutes, hours, days, months, weekdays, years = parts
        self.minutes = sorted(_field(minutes, 0, 59) or range(60))
        self.hours = sorted(_field(hours, 0, 23) or range(24))
        self.days = _field(days, 1, 31)
        self.months = _field(months, 1, 12, _MONTHS)
        self.weekdays = _field(weekdays, 1, 7, _DAYS)  # 1 = Sunday
        self.years = _field(years, 1970, 2199)

    def _day_matches(self, day: datetime) -> bool:
        weekday = (day.weekday() + 1) % 7 + 1
        return (
            (self.years is None or day.year in self.years)
            and (self.months is None or day.month in self.months)
            and (self.days is None or day.day in self.days)
            and (self.weekdays is None or weekday in self.weekdays)
        )

    def next_after(self, after: datetime, zone: ZoneInfo) -> datetime | None:
        local = after.astimezone(zone)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(366 * 8):
            if self._day_matches(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                        if moment > after:
                            return moment.astimezone(UTC)
            day = (day + timedelta(days=1)).replace(hour=0)
        return None


class Timing:
    """When a schedule fires next."""

    def __init__(self, expression: str, timezone: str, started: datetime) -> None:
        self.zone = ZoneInfo(timezone)
        match = re.fullmatch(r"\s*(cron|rate|at)\((.*)\)\s*", expression)
        if not match:
            raise ExpressionError(f"{expression!r} is not cron(...), rate(...) or at(...)")
        self.kind, body = match.groups()
        self.cron: Cron | None = Cron(body) if self.kind == "cron" else None
        self.period: timedelta | None = None
        self.at: datetime | None = None
        self.started = started
        if self.kind == "rate":
            amount, unit = body.split()
            seconds = _RATE_UNITS.get(unit.rstrip("s"))
            if seconds is None or int(amount) < 1:
                raise ExpressionError(f"rate({body}) needs a positive number of minutes/hours/days")
            self.period = timedelta(seconds=int(amount) * seconds)
        elif self.kind == "at":
            self.at = datetime.fromisoformat(body).replace(tzinfo=self.zone).astimezone(UTC)

    def next_after(self, after: datetime) -> datetime | None:
        if self.cron is not None:
            return self.cron.next_after(after, self.zone)
        if self.period is not None:
            periods = (after - self.started) // self.period + 1
            return self.started + periods * self.period
        return self.at if self.at and self.at > after else None


def scheduler_input(schedule: Schedule, at: datetime, attempt: int = 1) -> Any:
    """The template's Input with EventBridge Scheduler's context attributes filled in."""
    if schedule.input is None:
        return {}
    text = schedule.input
    values = {
        "scheduled-time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "schedule-arn": f"arn:aws:scheduler:local:{ACCOUNT_ID}:schedule/default/{schedule.event}",
        "execution-id": str(uuid.uuid4()),
        "attempt-number": str(attempt),
    }
    for name, value in values.items():
        text = text.replace(f"<aws.scheduler.{name}>", value)
    try:
        return json.loads(text)
    except ValueError:
        return text


def run_scheduled(function: LocalFunction, schedule: Schedule, at: datetime) -> dict[str, Any]:
    """Invoke a scheduled function as if fired at `at`; a job that answers `complete: false`
    with a `cursor` is invoked again with it until it completes, as the deployed job is."""
    event = scheduler_input(schedule, at)
    results = []
    while True:
        result = function.invoke(event)
        results.append(result)
        unfinished = isinstance(result, dict) and result.get("complete") is False
        if not (unfinished and result.get("cursor") and isinstance(event, dict)):
            break
        if len(results) >= MAX_CONTINUATIONS:
            raise RuntimeError(f"{function.name} did not complete in {len(results)} invocations")
        event = {**event, "cursor": result["cursor"]}
    return {
        "function": function.name,
        "invocations": len(results),
        "result": result,
        "results": results,
    }


class Scheduler:
    """One thread per enabled schedule, firing at each time its expression gives."""

    def __init__(
        self, entries: list[tuple[Schedule, LocalFunction]], retry_seconds: float = 5
    ) -> None:
        self._entries = entries
        self._retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.next_runs: dict[str, datetime | None] = {}

    def start(self) -> None:
        started = datetime.now(UTC)
        for schedule, function in self._entries:
            if not schedule.enabled:
                continue
            try:
                timing = Timing(schedule.expression, schedule.timezone, started)
            except (ExpressionError, ValueError, KeyError) as error:
                log.warning(
                    "%s.%s: %s; it runs on demand only", function.name, schedule.event, error
                )
                continue
            thread = threading.Thread(
                target=self._run,
                args=(schedule, function, timing),
                name=f"schedule-{function.name}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, schedule: Schedule, function: LocalFunction, timing: Timing) -> None:
        key = f"{function.name}.{schedule.event}"
        after = datetime.now(UTC)
        while not self._stop.is_set():
            fire_at = timing.next_after(after)
            self.next_runs[key] = fire_at
            if fire_at is None:
                return
            while not self._stop.is_set():
                remaining = (fire_at - datetime.now(UTC)).total_seconds()
                if remaining <= 0:
                    break
                self._stop.wait(min(remaining, 60))  # short waits survive clock changes
            if self._stop.is_set():
                return
            self._fire(schedule, function, fire_at)
            after = fire_at

    def _fire(self, schedule: Schedule, function: LocalFunction, at: datetime) -> None:
        for attempt in range(schedule.retry_attempts + 1):
            started = time.monotonic()
            try:
                outcome = run_scheduled(function, schedule, at)
            except Exception:
                log.exception(
                    "%s (schedule %s) failed, attempt %d",
                    function.name,
                    schedule.event,
                    attempt + 1,
                )
                if self._stop.wait(self._retry_seconds):
                    return
                continue
            log.info(
                "%s (schedule %s) ran for %s in %.1f s: %s",
                function.name,
                schedule.event,
                at.isoformat(),
                time.monotonic() - started,
                json.dumps(outcome["result"], default=str)[:300],
            )
            return
