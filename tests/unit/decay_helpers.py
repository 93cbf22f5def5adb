"""Shared by the decay suites on the in-memory store and on moto: lead histories that decay,
readings of what the job wrote, and the scenarios that both stores must pass."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from leadscore.domain import accounts
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.messages import encode
from leadscore.services.decay import run_decay
from leadscore.services.scoring import ModelSource, score_messages
from leadscore.services.store import ChangeRecord, FeedbackRecord, LeadStore, LeadWrite

from tests.conftest import Recorder
from tests.helpers.profiles import VP
from tests.unit.scoring_helpers import explained_points, stored_record, stored_state

AT = datetime(2026, 11, 1, 12, tzinfo=UTC)


def activity(prefix: str, at: datetime, profile: dict[str, Any] | None = None) -> list[Event]:
    """A few engaging events at `at` (engagement about 29 points)."""
    return [
        Event(f"{prefix}-1", "page_view", at, None, {"url": "https://v.example/pricing"}, profile),
        Event(f"{prefix}-2", "download", at, None, {"asset": "a1"}),
        Event(f"{prefix}-3", "email_click", at, None, {"campaign": "c1"}),
    ]


def hot(prefix: str, at: datetime, profile: dict[str, Any] | None = None) -> list[Event]:
    """Engagement over 100 points: demo requests and meetings."""
    return [
        Event(f"{prefix}-d1", "demo_request", at, None, {}, profile),
        Event(f"{prefix}-d2", "demo_request", at + timedelta(minutes=1)),
        Event(f"{prefix}-m1", "meeting_booked", at + timedelta(minutes=2)),
        Event(f"{prefix}-m2", "meeting_booked", at + timedelta(minutes=3)),
    ]


def score(
    store: LeadStore, models: ModelSource, pairs: list[tuple[str, Event]], now: datetime
) -> None:
    """Score (email, event) pairs as the scorer would have at `now`."""
    bodies = [(f"m{n}", body) for n, body in enumerate(encode(pairs, now))]
    outcome = score_messages(bodies, store, models, Recorder(), clock=lambda: now)
    assert not outcome.failed


def score_activity(
    store: LeadStore, models: ModelSource, emails: list[str], when: datetime
) -> None:
    """Every lead's `activity` at `when` (its email as the events' prefix), in one run."""
    score(store, models, [(email, e) for email in emails for e in activity(email, when)], when)


def decay_records(store: LeadStore, email: str) -> list[ChangeRecord]:
    return [c for c in store.lead_log(lead_key(email)).changes if c.tag == "decay"]


def assert_decayed_once(store: LeadStore, emails: list[str]) -> None:
    """Each lead decayed once, and its logged points still add up to its score."""
    for email in emails:
        assert len(decay_records(store, email)) == 1, email
        assert explained_points(store, email) == stored_state(store, email).score


def score_overdue_mqls(store: LeadStore, models: ModelSource, late: str, answered: str) -> None:
    """Two MQLs whose follow-up deadline has passed at AT; sales accepted `answered` in time."""
    when = AT - timedelta(days=2)
    for email in (late, answered):
        score(store, models, [(email, e) for e in hot(email[:4], when, VP)], when)
        state = stored_state(store, email)
        assert state.status == "mql" and state.sla_due_at is not None
        assert state.sla_due_at <= AT.timestamp()
    mql_since = stored_state(store, answered).mql_since
    assert mql_since is not None
    feedback = FeedbackRecord("accepted", mql_since + 60, "default")
    assert store.record_feedback(lead_key(answered), feedback)


def assert_breach_recorded(store: LeadStore, late: str, answered: str) -> None:
    """Only `late` breached, its notification is published, and neither is due again
    before its decay starts."""
    assert stored_state(store, late).sla_breached
    assert not stored_state(store, answered).sla_breached
    assert stored_record(store, late).pending == {}
    for email in (late, answered):
        due_at = stored_record(store, email).due_at
        assert due_at is not None and due_at > AT.timestamp()
        assert stored_state(store, email).decay_factor == 1.0


def people_of_leads(
    store: LeadStore, models: ModelSource, emails: list[str]
) -> dict[str, list[Any]]:
    """What their account must hold for these leads: each one's person, from its stored state."""
    config = models.current()[0].model.account
    assert config is not None
    return {
        lead_key(email): accounts.person_from_state(
            config, lead_key(email), stored_state(store, email)
        ).to_list()
        for email in emails
    }


def on_commit(number: int, action: Callable[[], None]) -> Callable[[list[LeadWrite]], None]:
    """An in-memory store's `before_commit` hook that runs `action` before its `number`th
    commit (a commit the action makes counts too)."""
    commits = 0

    def hook(chunk: list[LeadWrite]) -> None:
        nonlocal commits
        commits += 1
        if commits == number:
            action()

    return hook


def budget(pages: int) -> Callable[[], float]:
    """A deadline that leaves time for `pages` pages per invocation."""
    calls = 0

    def left() -> float:
        nonlocal calls
        calls += 1
        return 1.0 if calls < pages else 0.0

    return left


def check_due_leads_decay_and_a_replay_changes_nothing(
    store: LeadStore, models: ModelSource, contents: Callable[[], Any]
) -> None:
    """Idle leads decay once, recent ones not; a run again (or for an earlier instant)
    leaves `contents()` (all that is stored) as it was; a week later, one more period."""
    idle = [f"idle{n}@corp{n}.example" for n in range(6)]
    recent = [f"recent{n}@corp{n}.example" for n in range(3)]
    for n, email in enumerate(idle):
        when = AT - timedelta(days=45 + 10 * n)
        score(store, models, [(email, e) for e in activity(f"i{n}", when)], when)
    for n, email in enumerate(recent):
        when = AT - timedelta(days=5)
        score(store, models, [(email, e) for e in activity(f"r{n}", when)], when)
    before = {email: stored_state(store, email) for email in idle + recent}

    recorder = Recorder()
    outcome = run_decay(AT, store, models, recorder)
    assert outcome.complete and outcome.cursor is None
    assert outcome.stats.found == len(idle) and outcome.stats.decayed == len(idle)
    for email in idle:
        state = stored_state(store, email)
        assert state.decay_factor < 1 and state.score < before[email].score, email
        assert explained_points(store, email) == state.score, email
        assert len(decay_records(store, email)) == 1
        due_at = stored_record(store, email).due_at
        assert due_at is not None and due_at > AT.timestamp()  # next period
    for email in recent:
        assert stored_state(store, email) == before[email]
        assert not decay_records(store, email)

    snapshot = contents()
    again = run_decay(AT, store, models, recorder)
    assert again.complete and again.stats.found == 0 and again.stats.decayed == 0
    assert contents() == snapshot
    # A replay for an earlier instant finds nothing due either: decay is never undone.
    earlier = run_decay(AT - timedelta(days=3), store, models, recorder)
    assert earlier.stats.decayed == 0 and contents() == snapshot

    # A week later the idle leads decay one more period; the history still adds up.
    later = run_decay(AT + timedelta(days=7), store, models, recorder)
    assert later.stats.decayed == len(idle)
    for email in idle:
        assert explained_points(store, email) == stored_state(store, email).score
        assert len(decay_records(store, email)) == 2
    assert recorder.sent == []


def check_deadline_resumes_without_skipping_or_decaying_twice(
    store: LeadStore, models: ModelSource
) -> None:
    """Invocations that run out of time hand their cursor on (through JSON, as a Lambda
    payload carries it) until the run is complete: every due lead decayed once."""
    emails = [f"slow{n}@corp{n}.example" for n in range(40)]
    score_activity(store, models, emails, AT - timedelta(days=50))
    assert stored_state(store, emails[0]).decay_factor == 1.0

    cursor: dict[str, Any] | None = None
    invocations, decayed, found = 0, 0, 0
    while True:
        invocations += 1
        outcome = run_decay(
            AT, store, models, Recorder(), deadline=budget(2), cursor=cursor, page_size=3
        )
        decayed += outcome.stats.decayed
        found += outcome.stats.found
        if outcome.complete:
            break
        assert outcome.cursor is not None
        cursor = json.loads(json.dumps(outcome.cursor))
        assert invocations < 100
    assert invocations > 3
    assert decayed == len(emails) and found == len(emails)
    for email in emails:
        assert stored_state(store, email).decay_factor == pytest.approx(0.81)  # two periods
    assert_decayed_once(store, emails)
    assert run_decay(AT, store, models, Recorder()).stats.found == 0
