"""The decay job on the in-memory store: due states only, once, resumable, and safe against
concurrent writers, erasures, faults and stale index copies injected through the store."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain import accounts
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.messages import encode
from leadscore.domain.state import LeadState
from leadscore.services.decay import run_decay
from leadscore.services.scoring import score_messages
from leadscore.services.store import (
    ChangeRecord,
    Cursor,
    EventRecord,
    FeedbackRecord,
    LeadWrite,
    StateRecord,
    shard_of,
)
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, Recorder

AT = datetime(2026, 11, 1, 12, tzinfo=UTC)
VP = {
    "first_name": "Jane",
    "last_name": "Doe",
    "company": "Acme",
    "job_title": "VP Marketing",
    "industry": "Software",
    "company_size": "201-500",
    "country": "US",
}
ENGINEER = {"job_title": "Engineer", "country": "US", "company_size": 50}


class Models:
    """The default model, version 1, as the model store would serve it."""

    def __init__(self) -> None:
        model = load_model(ROOT / "models" / "default.yaml").model_copy(update={"version": 1})
        self.compiled = [compile_model(model)]

    def current(self) -> Sequence[CompiledModel]:
        return self.compiled


@pytest.fixture
def models() -> Models:
    return Models()


@pytest.fixture
def store() -> MemoryLeadStore:
    return MemoryLeadStore()


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
    store: MemoryLeadStore, models: Models, pairs: list[tuple[str, Event]], now: datetime
) -> None:
    """Score (email, event) pairs as the scorer would have at `now`."""
    bodies = [(f"m{n}", body) for n, body in enumerate(encode(pairs, now))]
    outcome = score_messages(bodies, store, models, Recorder(), clock=lambda: now)
    assert not outcome.failed


def state_of(store: MemoryLeadStore, email: str) -> StateRecord:
    return store.lead_log(lead_key(email)).states["default"]


def lead_state(store: MemoryLeadStore, email: str) -> LeadState:
    return state_of(store, email).state


def history_total(store: MemoryLeadStore, email: str) -> int:
    log = store.lead_log(lead_key(email))
    records: list[EventRecord | ChangeRecord] = [*log.events, *log.changes]
    return sum(round(d["points"] * 100) for r in records for d in r.deltas.get("default", []))


def decay_records(store: MemoryLeadStore, email: str) -> list[ChangeRecord]:
    return [c for c in store.lead_log(lead_key(email)).changes if c.tag == "decay"]


def contents(store: MemoryLeadStore) -> Any:
    """Everything stored, to compare before and after a run."""
    return copy.deepcopy((store.leads, store.accounts))


def keys_of(chunk: Iterable[LeadWrite]) -> set[str]:
    return {key for write in chunk for key in write.keys}


def test_due_leads_decay_history_adds_up_and_a_replay_changes_nothing(
    store: MemoryLeadStore, models: Models
) -> None:
    idle = [f"idle{n}@corp{n}.example" for n in range(6)]
    recent = [f"recent{n}@corp{n}.example" for n in range(3)]
    for n, email in enumerate(idle):
        when = AT - timedelta(days=45 + 10 * n)
        score(store, models, [(email, e) for e in activity(f"i{n}", when)], when)
    for n, email in enumerate(recent):
        when = AT - timedelta(days=5)
        score(store, models, [(email, e) for e in activity(f"r{n}", when)], when)
    before = {email: lead_state(store, email) for email in idle + recent}

    recorder = Recorder()
    outcome = run_decay(AT, store, models, recorder)
    assert outcome.complete and outcome.cursor is None
    assert outcome.stats.found == len(idle) and outcome.stats.decayed == len(idle)
    for email in idle:
        state = lead_state(store, email)
        assert state.decay_factor < 1 and state.score < before[email].score, email
        assert history_total(store, email) == state.score, email
        assert len(decay_records(store, email)) == 1
        due_at = state_of(store, email).due_at
        assert due_at is not None and due_at > AT.timestamp()  # next period
    for email in recent:
        assert lead_state(store, email) == before[email]
        assert not decay_records(store, email)

    snapshot = contents(store)
    again = run_decay(AT, store, models, recorder)
    assert again.complete and again.stats.found == 0 and again.stats.decayed == 0
    assert contents(store) == snapshot
    # A replay for an earlier instant finds nothing due either: decay is never undone.
    earlier = run_decay(AT - timedelta(days=3), store, models, recorder)
    assert earlier.stats.decayed == 0 and contents(store) == snapshot

    # A week later the idle leads decay one more period; the history still adds up.
    later = run_decay(AT + timedelta(days=7), store, models, recorder)
    assert later.stats.decayed == len(idle)
    for email in idle:
        assert history_total(store, email) == lead_state(store, email).score
        assert len(decay_records(store, email)) == 2
    assert recorder.sent == []


def test_two_runs_for_one_instant_at_once_decay_each_lead_once(
    store: MemoryLeadStore, models: Models
) -> None:
    """A second run for the same instant writes while the first is about to: the first
    run's write is refused, and its leads read again show nothing left to do."""
    emails = [f"idle{n}@corp{n}.example" for n in range(4)]
    when = AT - timedelta(days=50)
    score(store, models, [(email, e) for email in emails for e in activity(email, when)], when)
    second: list[Any] = []

    def another_run_first(chunk: list[LeadWrite]) -> None:
        if not second:
            second.append(None)
            second[0] = run_decay(AT, store, models, Recorder())

    store.before_commit = another_run_first
    first = run_decay(AT, store, models, Recorder())
    assert second[0].stats.decayed == len(emails)
    # The first run's first page conflicted; its later pages find nothing due any more.
    assert first.stats.decayed == 0 and first.stats.gave_up == 0
    assert first.stats.found == first.stats.unchanged == first.stats.conflicts_retried == 1
    for email in emails:
        assert len(decay_records(store, email)) == 1, email
        assert history_total(store, email) == lead_state(store, email).score


def test_lead_active_since_it_was_found_is_not_decayed(
    store: MemoryLeadStore, models: Models
) -> None:
    woke, stays, raced = "woke@corp.example", "stays@corp.example", "raced@corp.example"
    old = AT - timedelta(days=60)
    for email in (woke, stays, raced):
        score(store, models, [(email, e) for e in activity(email[:4], old)], old)
    fresh = AT - timedelta(hours=1)
    writes: dict[str, int] = {woke: 0, raced: 0}
    acted: set[str] = set()

    def activity_before_the_write(chunk: list[LeadWrite]) -> None:
        # `woke` acts after the job found it, before its first write; `raced` between the
        # consistent read after that conflict and the next write.
        for email, event, write in ((woke, "w-new", 1), (raced, "x-new", 2)):
            if email not in acted and lead_key(email) in keys_of(chunk):
                writes[email] += 1
                if writes[email] == write:
                    acted.add(email)
                    score(store, models, [(email, Event(event, "demo_request", fresh))], fresh)

    store.before_commit = activity_before_the_write
    outcome = run_decay(AT, store, models, Recorder())
    assert acted == {woke, raced}
    assert outcome.stats.found == 3 and outcome.stats.conflicts_retried >= 1
    assert outcome.stats.decayed == 1 and outcome.stats.gave_up == 0
    for email in (woke, raced):
        state = lead_state(store, email)
        assert state.decay_factor == 1.0 and state.last_activity_at == int(fresh.timestamp())
        assert "engagement.demo_request" in state.reasons
        assert not decay_records(store, email)
        assert history_total(store, email) == state.score
    assert lead_state(store, stays).decay_factor < 1
    assert history_total(store, stays) == lead_state(store, stays).score


def test_lead_erased_since_it_was_found_is_not_written_again(
    store: MemoryLeadStore, models: Models
) -> None:
    gone, stays = "gone@corp.example", "stays@corp.example"
    old = AT - timedelta(days=60)
    for email in (gone, stays):
        score(store, models, [(email, e) for e in activity(email[:4], old)], old)

    def erasure_before_the_write(chunk: list[LeadWrite]) -> None:
        if lead_key(gone) in keys_of(chunk) and store.leads[lead_key(gone)].erased_at is None:
            store.erase(lead_key(gone), int(AT.timestamp()))  # as the API does

    store.before_commit = erasure_before_the_write
    outcome = run_decay(AT, store, models, Recorder())
    assert outcome.stats.found == 2 and outcome.stats.decayed == 1
    assert outcome.stats.unchanged == 1 and outcome.stats.gave_up == 0
    log = store.lead_log(lead_key(gone))
    assert log.erased_at is not None
    assert (log.profile, log.states, log.events, log.changes) == (None, {}, [], [])
    assert lead_state(store, stays).decay_factor < 1


class LaggingIndex(MemoryLeadStore):
    """A store whose due listing shows `stale` copies of states (DynamoDB's index is
    eventually consistent), in place of the stored ones."""

    def __init__(self) -> None:
        super().__init__()
        self.stale: dict[str, StateRecord] = {}

    def due_page(
        self, shard: int, at: int, limit: int, cursor: Cursor | None
    ) -> tuple[dict[str, dict[str, StateRecord]], Cursor | None]:
        found, next_cursor = super().due_page(shard, at, limit, cursor)
        for key, record in self.stale.items():
            if shard_of(key) == shard:
                found.setdefault(key, {})[record.model] = copy.deepcopy(record)
        return found, next_cursor


def test_copy_with_a_sent_notification_is_read_again(models: Models) -> None:
    store = LaggingIndex()
    email = "cooling@smallco.example"
    when = AT - timedelta(days=120)
    score(store, models, [(email, e) for e in hot("c", when, ENGINEER)], when)
    recorder = Recorder()
    run_decay(AT, store, models, recorder)
    assert recorder.kinds() == ["lead.cooled"]
    sent = recorder.sent[0]
    # The index may still show the notification that publishing cleared (no version change).
    stale = state_of(store, email)
    stale.pending, stale.due_at = {sent.id: sent}, int(AT.timestamp())
    store.stale[lead_key(email)] = stale

    snapshot = contents(store)
    outcome = run_decay(AT, store, models, recorder)
    assert outcome.stats.found == 1 and outcome.stats.unchanged == 1
    assert recorder.kinds() == ["lead.cooled"] and contents(store) == snapshot


def test_states_written_before_they_named_their_account(
    store: MemoryLeadStore, models: Models
) -> None:
    """Their profile names the account; the decay writes it on the state for next time."""
    emails = [f"old{n}@legacy.example" for n in range(3)]
    when = AT - timedelta(days=50)
    score(store, models, [(email, e) for email in emails for e in activity(email, when)], when)
    for email in emails:
        store.leads[lead_key(email)].states["default"].account_domain = None
    (account,) = store.account_records("legacy.example")

    outcome = run_decay(AT, store, models, Recorder())
    assert outcome.stats.decayed == len(emails)
    config = models.current()[0].model.account
    assert config is not None
    (after,) = store.account_records("legacy.example")
    assert after.version is not None and account.version is not None
    assert after.version > account.version
    assert after.people == {
        lead_key(email): accounts.person_from_state(
            config, lead_key(email), lead_state(store, email)
        ).to_list()
        for email in emails
    }
    assert {state_of(store, email).account_domain for email in emails} == {"legacy.example"}


def test_account_changed_by_another_writer_between_pages_is_read_again(
    store: MemoryLeadStore, models: Models
) -> None:
    """The run reuses an account it wrote on an earlier page; when someone else wrote it
    since, its version condition fails and the page is redone with the account read again."""
    emails = [f"p{n}@shared.example" for n in range(4)]
    when = AT - timedelta(days=50)
    score(store, models, [(email, e) for email in emails for e in activity(email, when)], when)
    commits = 0

    def account_written_between_pages(chunk: list[LeadWrite]) -> None:
        nonlocal commits
        commits += 1
        if commits == 2:  # the second page's first write
            (record,) = store.account_records("shared.example")
            record.updated_at += 1
            assert store.commit([LeadWrite("shared.example", [record])])[0]

    store.before_commit = account_written_between_pages
    outcome = run_decay(AT, store, models, Recorder(), page_size=1)
    assert outcome.stats.decayed == len(emails) and outcome.stats.gave_up == 0
    assert outcome.stats.conflicts_retried >= 1
    config = models.current()[0].model.account
    assert config is not None
    (after,) = store.account_records("shared.example")
    assert after.people == {
        lead_key(email): accounts.person_from_state(
            config, lead_key(email), lead_state(store, email)
        ).to_list()
        for email in emails
    }


def test_cooled_notification_when_decay_falls_below_reset(
    store: MemoryLeadStore, models: Models
) -> None:
    email = "cooling@smallco.example"
    when = AT - timedelta(days=120)  # 12 periods of 10%: engagement 150 -> 42
    score(store, models, [(email, e) for e in hot("c", when, ENGINEER)], when)
    assert lead_state(store, email).status == "mql"
    recorder = Recorder()
    outcome = run_decay(AT, store, models, recorder)
    state = lead_state(store, email)
    assert state.status == "open" and state.score < 4500
    assert recorder.kinds() == ["lead.cooled"] and outcome.stats.cooled == 1
    assert recorder.sent[0].document["email"] == email
    assert state_of(store, email).pending == {}
    assert history_total(store, email) == state.score
    run_decay(AT, store, models, recorder)
    assert recorder.kinds() == ["lead.cooled"]


class Outage(Recorder):
    """A publisher that fails while `down`."""

    down = True

    def publish(self, notification: Any) -> None:
        if self.down:
            raise ConnectionError("SNS unreachable")
        super().publish(notification)


def test_notification_that_failed_to_publish_goes_out_with_the_next_write(
    store: MemoryLeadStore, models: Models
) -> None:
    email = "cooling@smallco.example"
    when = AT - timedelta(days=120)
    score(store, models, [(email, e) for e in hot("c", when, ENGINEER)], when)
    publisher = Outage()
    outcome = run_decay(AT, store, models, publisher)
    assert outcome.stats.cooled == 1 and outcome.stats.notifications == 0
    (pending,) = state_of(store, email).pending.values()
    assert pending.kind == "lead.cooled"

    publisher.down = False
    later = run_decay(AT + timedelta(days=7), store, models, publisher)
    assert later.stats.decayed == 1 and later.stats.notifications == 1
    assert [n.id for n in publisher.sent] == [pending.id]
    assert state_of(store, email).pending == {}


def test_sla_breach_published_once_and_not_after_feedback(
    store: MemoryLeadStore, models: Models
) -> None:
    late, answered = "late@acme.example", "answered@acme.example"
    when = AT - timedelta(days=2)
    for email in (late, answered):
        score(store, models, [(email, e) for e in hot(email[:4], when, VP)], when)
        state = lead_state(store, email)
        assert state.status == "mql" and state.sla_due_at is not None
        assert state.sla_due_at <= AT.timestamp()
    mql_since = lead_state(store, answered).mql_since
    assert mql_since is not None
    assert store.record_feedback(
        lead_key(answered), FeedbackRecord("accepted", mql_since + 60, "default")
    )

    recorder = Recorder()
    outcome = run_decay(AT, store, models, recorder)
    assert outcome.complete and outcome.stats.sla_breached == 1
    assert recorder.kinds() == ["lead.sla_breached"]
    assert recorder.sent[0].document["email"] == late
    assert lead_state(store, late).sla_breached
    assert not lead_state(store, answered).sla_breached
    assert state_of(store, late).pending == {}
    for email in (late, answered):  # neither is due again before decay starts
        due_at = state_of(store, email).due_at
        assert due_at is not None and due_at > AT.timestamp()
        assert lead_state(store, email).decay_factor == 1.0

    for moment in (AT, AT + timedelta(hours=1)):
        assert run_decay(moment, store, models, recorder).stats.found == 0
    assert recorder.kinds() == ["lead.sla_breached"]


def budget(pages: int) -> Callable[[], float]:
    """A deadline that leaves time for `pages` pages per invocation."""
    calls = 0

    def left() -> float:
        nonlocal calls
        calls += 1
        return 1.0 if calls < pages else 0.0

    return left


def test_deadline_resumes_without_skipping_or_decaying_twice(
    store: MemoryLeadStore, models: Models
) -> None:
    emails = [f"slow{n}@corp{n}.example" for n in range(40)]
    when = AT - timedelta(days=50)
    score(store, models, [(email, e) for email in emails for e in activity(email, when)], when)
    assert lead_state(store, emails[0]).decay_factor == 1.0

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
        cursor = json.loads(json.dumps(outcome.cursor))  # as a Lambda payload carries it
        assert invocations < 100
    assert invocations > 3
    assert decayed == len(emails) and found == len(emails)
    for email in emails:
        assert len(decay_records(store, email)) == 1, email
        assert lead_state(store, email).decay_factor == pytest.approx(0.81)  # two periods
        assert history_total(store, email) == lead_state(store, email).score
    assert run_decay(AT, store, models, Recorder()).stats.found == 0


def test_a_fault_fails_the_run_and_running_it_again_finishes_the_work(
    store: MemoryLeadStore, models: Models
) -> None:
    """A failed write (throttling past the SDK's retries) fails the invocation; the
    scheduler's retry for the same instant decays what is left, and nothing twice."""
    emails = [f"idle{n}@corp{n}.example" for n in range(6)]
    when = AT - timedelta(days=50)
    score(store, models, [(email, e) for email in emails for e in activity(email, when)], when)
    commits = 0

    def throttled_on_the_second_page(chunk: list[LeadWrite]) -> None:
        nonlocal commits
        commits += 1
        if commits == 2:
            raise RuntimeError("ProvisionedThroughputExceededException")

    store.before_commit = throttled_on_the_second_page
    with pytest.raises(RuntimeError):
        run_decay(AT, store, models, Recorder(), page_size=2)
    done = [email for email in emails if decay_records(store, email)]
    assert 0 < len(done) < len(emails)

    again = run_decay(AT, store, models, Recorder(), page_size=2)
    assert again.complete and again.stats.decayed == len(emails) - len(done)
    for email in emails:
        assert len(decay_records(store, email)) == 1, email
        assert history_total(store, email) == lead_state(store, email).score


def test_lead_that_keeps_conflicting_is_left_for_the_next_run(
    store: MemoryLeadStore, models: Models
) -> None:
    email = "busy@corp.example"
    when = AT - timedelta(days=50)
    score(store, models, [(email, e) for e in activity("b", when)], when)
    before = contents(store)
    store.before_commit = keys_of  # every write of the lead conflicts

    outcome = run_decay(AT, store, models, Recorder(), attempts=3)
    assert outcome.complete and outcome.stats.gave_up == 1
    assert outcome.stats.conflicts_retried == 2 and outcome.stats.decayed == 0
    assert contents(store) == before

    store.before_commit = None
    assert run_decay(AT, store, models, Recorder()).stats.decayed == 1
    assert history_total(store, email) == lead_state(store, email).score
