"""The scorer against the in-memory store: exactly once under duplicates, shuffling,
concurrency, injected faults and conflicts, redelivery; alerts recorded, then published."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.messages import encode
from leadscore.services.scoring import BatchOutcome, score_messages
from leadscore.services.store import LeadWrite

from tests.conftest import Recorder
from tests.unit.scoring_helpers import (
    NOW,
    FixedModels,
    SimulatedQueue,
    assert_scored_once,
    bodies_of,
    delivered_twice,
    distinct_kinds,
    make_events,
    score_in_parallel,
    stored_state,
)

CEO = {
    "first_name": "Ceo",
    "job_title": "CEO",
    "industry": "saas",
    "company_size": 900,
    "country": "US",
}


def score(
    store: MemoryLeadStore, batch: list[tuple[str, str]], publisher: Any = None, **options: Any
) -> BatchOutcome:
    return score_messages(
        batch, store, FixedModels(), publisher or Recorder(), clock=lambda: NOW, **options
    )


def mql_body(email: str = "ceo@bigco.example", tag: str = "y") -> str:
    """One message that makes a new lead an MQL."""
    pairs = [
        (email, Event(f"{tag}1", "demo_request", NOW, None, {}, CEO)),
        (email, Event(f"{tag}2", "meeting_booked", NOW)),
    ]
    return next(encode(pairs, NOW))


class FlakyClears(MemoryLeadStore):
    """A store whose clearing of published notifications fails at `rate` (a throttled
    UpdateItem, or the process dying between publishing and clearing)."""

    def __init__(self, rate: float, rng: random.Random) -> None:
        super().__init__()
        self.rate, self.rng = rate, rng

    def clear_pending(self, key: str, model_id: str, notification_ids: Iterable[str]) -> None:
        if self.rng.random() < self.rate:
            raise RuntimeError("injected: clearing failed")
        super().clear_pending(key, model_id, notification_ids)


def test_exactly_once_with_duplicates_shuffling_and_faults() -> None:
    rng = random.Random(7)
    events = make_events(2000, 50)
    bodies = delivered_twice(bodies_of(events), 0.3, rng)
    store = FlakyClears(0.10, rng)

    def throttle(chunk: list[LeadWrite]) -> None:
        if rng.random() < 0.10:
            raise RuntimeError("injected: throttled after the client's retries")

    store.before_commit = throttle
    recorder = Recorder()
    deliveries = SimulatedQueue(bodies, rng).drain(lambda batch: score(store, batch, recorder))
    assert deliveries > len(bodies) / 10  # some batches were redelivered after a fault
    assert_scored_once(store, events, distinct_kinds(recorder.sent))


def test_parallel_batches_on_hot_leads_lose_no_update() -> None:
    events = make_events(400, 5, seed=3)
    store = MemoryLeadStore()
    score_in_parallel(bodies_of(events), lambda batch: score(store, batch), workers=8)
    assert_scored_once(store, events)


def test_a_conflict_is_read_again_and_recomputed() -> None:
    """A concurrent writer wins twice: the batch is recomputed over its writes each time."""
    events = make_events(30, 3, seed=11)
    store = MemoryLeadStore()
    refused = []

    def lose_twice(chunk: list[LeadWrite]) -> list[str]:
        if len(refused) == 2:
            return []
        refused.append(chunk)
        return [key for write in chunk for key in write.keys]

    store.before_commit = lose_twice
    outcome = score(store, bodies_of(events))
    assert not outcome.failed
    assert outcome.stats.conflicts_retried == 2 * 3  # three leads, two lost rounds
    assert outcome.stats.events_scored == 30 and store.transactions == 1
    assert_scored_once(store, events)


def test_conflicts_past_the_last_attempt_fail_the_records_for_redelivery() -> None:
    events = make_events(20, 2, seed=5)
    bodies = bodies_of(events)
    store = MemoryLeadStore()
    store.before_commit = lambda chunk: [key for write in chunk for key in write.keys]
    outcome = score(store, bodies, attempts=3)
    assert outcome.failed == {m for m, _ in bodies}
    assert outcome.stats.events_scored == 0 and not store.leads
    store.before_commit = None
    again = score(store, bodies)  # SQS redelivers them
    assert not again.failed and again.stats.events_scored == 20
    assert_scored_once(store, events)


def test_a_failed_write_writes_nothing_and_fails_every_record() -> None:
    events = make_events(20, 4, seed=9)
    bodies = bodies_of(events)
    store = MemoryLeadStore()

    def fail(chunk: list[LeadWrite]) -> None:
        raise RuntimeError("injected: validation error")

    store.before_commit = fail
    recorder = Recorder()
    outcome = score(store, bodies, recorder)
    assert outcome.failed == {m for m, _ in bodies}
    assert not store.leads and not recorder.sent
    store.before_commit = None
    assert not score(store, bodies, recorder).failed
    assert_scored_once(store, events, distinct_kinds(recorder.sent))


def test_publish_failure_is_retried_not_lost() -> None:
    class Flaky(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.fail = True

        def publish(self, notification: Any) -> None:
            if self.fail:
                raise RuntimeError("SNS down")
            super().publish(notification)

    publisher = Flaky()
    store = MemoryLeadStore()
    email = "ceo@bigco.example"
    first = score(store, [("m", mql_body(email))], publisher)
    assert first.failed == {"m"} and not publisher.sent
    (pending,) = store.lead_log(lead_key(email)).states["default"].pending.values()
    assert pending.kind == "lead.mql"  # recorded durably before publishing
    publisher.fail = False
    second = score(store, [("m", mql_body(email))], publisher)  # SQS redelivers
    assert not second.failed and second.stats.duplicates == 2
    assert publisher.kinds() == ["lead.mql"] and publisher.sent[0].id == pending.id
    assert store.lead_log(lead_key(email)).states["default"].pending == {}


def test_published_but_not_cleared_is_published_again_with_the_same_id() -> None:
    """Delivery to sales is at least once; the repeat carries the same id to drop it by."""
    store = FlakyClears(1.0, random.Random(1))
    recorder = Recorder()
    first = score(store, [("m", mql_body())], recorder)
    assert first.failed == {"m"} and recorder.kinds() == ["lead.mql"]
    store.rate = 0.0
    assert not score(store, [("m", mql_body())], recorder).failed
    assert recorder.kinds() == ["lead.mql", "lead.mql"]
    assert recorder.sent[0].id == recorder.sent[1].id
    assert store.lead_log(lead_key("ceo@bigco.example")).states["default"].pending == {}
    assert not score(store, [("m", mql_body())], recorder).failed
    assert len(recorder.sent) == 2  # cleared: nothing more to publish


def test_unreadable_message_goes_alone_to_the_dead_letters_with_its_reason() -> None:
    events = make_events(9, 9, seed=5)
    bodies = bodies_of(events)
    poison = '{"v": 1, "events": "not a list"}'
    bodies.insert(4, ("poison", poison))
    store = MemoryLeadStore()
    outcome = score(store, bodies)
    assert not outcome.failed and outcome.stats.events_scored == 9
    [letter] = outcome.dead_letters
    assert (letter.body, letter.messages) == (poison, {"poison"})
    assert letter.reason == "unreadable: missing received_at or events"
    for email, _ in events:
        assert stored_state(store, email).reasons  # the nine others were scored


def test_events_queued_before_an_erasure_do_not_revive_the_lead() -> None:
    email = "gone@bigco.example"
    store = MemoryLeadStore()
    store.erase(lead_key(email), int(NOW.timestamp()), int(NOW.timestamp()) + 86_400)
    queued = score(store, [("m", mql_body(email))])  # received_at == NOW: before the erasure
    assert not queued.failed and queued.stats.dropped_erased == 2
    assert store.lead_log(lead_key(email)).profile is None
    later = NOW.replace(hour=13)
    body = next(encode([(email, Event("z1", "demo_request", later))], later))
    after = score(store, [("n", body)])  # a new event after the erasure is a new lead
    assert after.stats.events_scored == 1
    assert store.lead_log(lead_key(email)).profile is not None


def test_a_new_lead_counts_once_per_event_across_batches_of_one_lead() -> None:
    """Two messages of one lead in one batch are read and written together, once."""
    email = "two@bigco.example"
    first = (email, Event("a1", "demo_request", NOW, None, {}, CEO))
    second = (email, Event("a2", "page_view", NOW, None, {"url": "https://v.example/pricing"}))
    store = MemoryLeadStore()
    outcome = score(store, bodies_of([first, second]) + bodies_of([first]))
    assert not outcome.failed and outcome.stats.events_scored == 2
    assert outcome.stats.duplicates == 1 and store.transactions == 1
    assert_scored_once(store, [first, second])
