"""The decay job on the in-memory store: due states only, once, resumable, and safe against
concurrent writers, erasures and faults injected through the store."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain import engine
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.services.decay import run_decay
from leadscore.services.store import LeadWrite

from tests.conftest import Recorder
from tests.helpers.profiles import ENGINEER
from tests.unit.decay_helpers import (
    AT,
    activity,
    assert_breach_recorded,
    assert_decayed_once,
    check_deadline_resumes_without_skipping_or_decaying_twice,
    check_due_leads_decay_and_a_replay_changes_nothing,
    decay_records,
    hot,
    on_commit,
    people_of_leads,
    score,
    score_activity,
    score_overdue_mqls,
)
from tests.unit.scoring_helpers import FixedModels, explained_points, stored_record, stored_state


@pytest.fixture
def models() -> FixedModels:
    return FixedModels()


@pytest.fixture
def store() -> MemoryLeadStore:
    return MemoryLeadStore()


def contents(store: MemoryLeadStore) -> Any:
    """Everything stored, to compare before and after a run."""
    return copy.deepcopy((store.leads, store.accounts))


def keys_of(chunk: Iterable[LeadWrite]) -> set[str]:
    return {key for write in chunk for key in write.keys}


def test_due_leads_decay_history_adds_up_and_a_replay_changes_nothing(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    check_due_leads_decay_and_a_replay_changes_nothing(store, models, lambda: contents(store))


def test_two_runs_for_one_instant_at_once_decay_each_lead_once(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    """A second run for the same instant writes while the first is about to: the first
    run's write is refused, and its leads read again show nothing left to do."""
    emails = [f"idle{n}@corp{n}.example" for n in range(4)]
    score_activity(store, models, emails, AT - timedelta(days=50))
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
    assert_decayed_once(store, emails)


def test_lead_active_since_it_was_found_is_not_decayed(
    store: MemoryLeadStore, models: FixedModels
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
        state = stored_state(store, email)
        assert state.decay_factor == 1.0 and state.last_activity_at == int(fresh.timestamp())
        assert "engagement.demo_request" in state.reasons
        assert not decay_records(store, email)
        assert explained_points(store, email) == state.score
    assert stored_state(store, stays).decay_factor < 1
    assert explained_points(store, stays) == stored_state(store, stays).score


def test_lead_erased_since_it_was_found_is_not_written_again(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    gone, stays = "gone@corp.example", "stays@corp.example"
    old = AT - timedelta(days=60)
    for email in (gone, stays):
        score(store, models, [(email, e) for e in activity(email[:4], old)], old)

    def erasure_before_the_write(chunk: list[LeadWrite]) -> None:
        if lead_key(gone) in keys_of(chunk) and store.leads[lead_key(gone)].erased_at is None:
            store.erase(lead_key(gone), int(AT.timestamp()), int(AT.timestamp()) + 86_400)

    store.before_commit = erasure_before_the_write
    outcome = run_decay(AT, store, models, Recorder())
    assert outcome.stats.found == 2 and outcome.stats.decayed == 1
    assert outcome.stats.unchanged == 1 and outcome.stats.gave_up == 0
    log = store.lead_log(lead_key(gone))
    assert log.erased_at is not None
    assert (log.profile, log.states, log.events, log.changes) == (None, {}, [], [])
    assert stored_state(store, stays).decay_factor < 1


def test_states_written_before_they_named_their_account(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    """Their profile names the account; the decay writes it on the state for next time."""
    emails = [f"old{n}@legacy.example" for n in range(3)]
    score_activity(store, models, emails, AT - timedelta(days=50))
    for email in emails:
        store.leads[lead_key(email)].states["default"].account_domain = None
    (account,) = store.account_records("legacy.example")

    outcome = run_decay(AT, store, models, Recorder())
    assert outcome.stats.decayed == len(emails)
    (after,) = store.account_records("legacy.example")
    assert after.version is not None and account.version is not None
    assert after.version > account.version
    assert after.people == people_of_leads(store, models, emails)
    assert {stored_record(store, email).account_domain for email in emails} == {"legacy.example"}


def test_account_changed_by_another_writer_between_pages_is_read_again(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    """The run reuses an account it wrote on an earlier page; when someone else wrote it
    since, its version condition fails and the page is redone with the account read again."""
    emails = [f"p{n}@shared.example" for n in range(4)]
    score_activity(store, models, emails, AT - timedelta(days=50))

    def account_written() -> None:
        (record,) = store.account_records("shared.example")
        record.updated_at += 1
        assert store.commit([LeadWrite("shared.example", [record])])[0]

    store.before_commit = on_commit(2, account_written)  # the second page's first write
    outcome = run_decay(AT, store, models, Recorder(), page_size=1)
    assert outcome.stats.decayed == len(emails) and outcome.stats.gave_up == 0
    assert outcome.stats.conflicts_retried >= 1
    (after,) = store.account_records("shared.example")
    assert after.people == people_of_leads(store, models, emails)


def test_cooled_notification_when_decay_falls_below_reset(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    email = "cooling@smallco.example"
    when = AT - timedelta(days=120)  # 12 periods of 10%: engagement 150 -> 42
    score(store, models, [(email, e) for e in hot("c", when, ENGINEER)], when)
    assert stored_state(store, email).status == "mql"
    recorder = Recorder()
    outcome = run_decay(AT, store, models, recorder)
    state = stored_state(store, email)
    assert state.status == "open" and state.score < 4500
    assert recorder.kinds() == ["lead.cooled"] and outcome.stats.cooled == 1
    assert recorder.sent[0].document["email"] == email
    assert stored_record(store, email).pending == {}
    assert explained_points(store, email) == state.score
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
    store: MemoryLeadStore, models: FixedModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = "cooling@smallco.example"
    when = AT - timedelta(days=120)
    score(store, models, [(email, e) for e in hot("c", when, ENGINEER)], when)
    publisher = Outage()
    outcome = run_decay(AT, store, models, publisher)
    assert outcome.stats.cooled == 1 and outcome.stats.notifications == 0
    (pending,) = stored_record(store, email).pending.values()
    assert pending.kind == "lead.cooled"

    publisher.down = False
    read_again: list[Any] = []
    read_leads = store.read_leads

    def counted(*args: Any) -> Any:
        read_again.append(args)
        return read_leads(*args)

    monkeypatch.setattr(store, "read_leads", counted)
    later = run_decay(AT + timedelta(days=7), store, models, publisher)
    assert read_again == []  # the due page's states are current: none is read twice
    assert later.stats.decayed == 1 and later.stats.notifications == 1
    assert [n.id for n in publisher.sent] == [pending.id]
    assert stored_record(store, email).pending == {}


def test_sla_breach_published_once_and_not_after_feedback(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    late, answered = "late@acme.example", "answered@acme.example"
    score_overdue_mqls(store, models, late, answered)

    recorder = Recorder()
    outcome = run_decay(AT, store, models, recorder)
    assert outcome.complete and outcome.stats.sla_breached == 1
    assert recorder.kinds() == ["lead.sla_breached"]
    assert recorder.sent[0].document["email"] == late
    assert_breach_recorded(store, late, answered)
    # Sales answered it: only its decay makes it due again.
    answered_record = stored_record(store, answered)
    (model,) = models.current()
    assert answered_record.due_at == engine.next_decay_at(model, answered_record.state)

    for moment in (AT, AT + timedelta(hours=1)):
        assert run_decay(moment, store, models, recorder).stats.found == 0
    assert recorder.kinds() == ["lead.sla_breached"]


def test_deadline_resumes_without_skipping_or_decaying_twice(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    check_deadline_resumes_without_skipping_or_decaying_twice(store, models)


def test_a_fault_fails_the_run_and_running_it_again_finishes_the_work(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    """A failed write (throttling past the SDK's retries) fails the invocation; the
    scheduler's retry for the same instant decays what is left, and nothing twice."""
    emails = [f"idle{n}@corp{n}.example" for n in range(6)]
    score_activity(store, models, emails, AT - timedelta(days=50))

    def throttled() -> None:
        raise RuntimeError("ProvisionedThroughputExceededException")

    store.before_commit = on_commit(2, throttled)  # on the second page
    with pytest.raises(RuntimeError):
        run_decay(AT, store, models, Recorder(), page_size=2)
    done = [email for email in emails if decay_records(store, email)]
    assert 0 < len(done) < len(emails)

    again = run_decay(AT, store, models, Recorder(), page_size=2)
    assert again.complete and again.stats.decayed == len(emails) - len(done)
    assert_decayed_once(store, emails)


def test_lead_that_keeps_conflicting_is_left_for_the_next_run(
    store: MemoryLeadStore, models: FixedModels
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
    assert explained_points(store, email) == stored_state(store, email).score


def test_activity_leaves_the_due_entry_until_the_job_moves_it_once(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    """A lead active again keeps its earlier due time (its index entry does not move); the
    job, finding nothing to decay then, moves it once to the real next decay, and decays
    the lead then, as it would have."""
    email = "again@corp.example"
    first, again = AT - timedelta(days=60), AT - timedelta(days=40)
    score(store, models, [(email, e) for e in activity("a", first)], first)
    due = stored_record(store, email).due_at
    assert due == (first + timedelta(days=37)).timestamp()  # 30 days of grace, then a week
    score(store, models, [(email, e) for e in activity("b", again)], again)
    assert stored_record(store, email).due_at == due  # kept: earlier than the new one
    checked = run_decay(AT - timedelta(days=23), store, models, Recorder())
    assert (checked.stats.found, checked.stats.decayed) == (1, 0)
    real = (again + timedelta(days=37)).timestamp()
    assert stored_record(store, email).due_at == real
    again_at_once = run_decay(AT - timedelta(days=23), store, models, Recorder())
    assert again_at_once.stats.found == 0
    before = stored_state(store, email).score
    decayed = run_decay(AT - timedelta(days=3), store, models, Recorder())
    assert decayed.stats.decayed == 1 and stored_state(store, email).score < before
    assert explained_points(store, email) == stored_state(store, email).score


def test_an_answered_mqls_activity_leaves_its_due_entry_at_its_decay(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    """Sales answered the MQL: its passed follow-up deadline no longer makes it due, so its
    later events neither move its entry in the due index nor bring it to the job."""
    late, answered = "late@acme.example", "answered@acme.example"
    score_overdue_mqls(store, models, late, answered)
    run_decay(AT, store, models, Recorder())
    due = stored_record(store, answered).due_at
    assert due is not None and due > AT.timestamp()
    for hour in range(1, 4):
        now = AT + timedelta(hours=hour)
        view = Event(f"pv{hour}", "page_view", now, None, {"url": "https://v.example/x"})
        score(store, models, [(answered, view)], now)
        assert stored_record(store, answered).due_at == due
        assert run_decay(now + timedelta(minutes=30), store, models, Recorder()).stats.found == 0
    assert stored_state(store, answered).status == "mql"
