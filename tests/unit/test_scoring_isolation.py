"""One lead never fails another: a lead with more events than a transaction holds is written
in several, a record that can never be stored goes alone to the dead letters with its reason,
an event dated in the future is taken at its arrival, a form sent again later counts again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event, canonical_event, event_to_dict
from leadscore.domain.messages import encode
from leadscore.services.notification_log import log_day
from leadscore.services.scoring import BatchOutcome, score_messages
from leadscore.services.store import MAX_TRANSACTION_RECORDS, AccountRecord, LeadWrite
from leadscore.services.transactions import lead_room, write_items

from tests.conftest import Recorder
from tests.unit.scoring_helpers import (
    NOW,
    FixedModels,
    assert_scored_once,
    bodies_of,
    make_events,
    stored_record,
    stored_state,
)

HOT = "scanner.victim@corp1.example"
VP = {"job_title": "VP Sales", "industry": "software", "company_size": 800, "country": "US"}


def score(store: MemoryLeadStore, batch: list[tuple[str, str]], **options: Any) -> BatchOutcome:
    return score_messages(batch, store, FixedModels(), Recorder(), clock=lambda: NOW, **options)


def burst(email: str, count: int, tag: str = "b") -> list[tuple[str, Event]]:
    """`count` distinct clicks of one lead, a minute apart (a link scanner's burst)."""
    return [
        (
            email,
            Event(
                f"{tag}-{n}",
                "email_click",
                NOW - timedelta(minutes=count - n),
                None,
                {"campaign": f"c{n % 3}", "url": f"https://vendor.example/l/{n}"},
            ),
        )
        for n in range(count)
    ]


def one_message(message_id: str, events: list[tuple[str, Event]]) -> tuple[str, str]:
    [body] = encode(events, NOW)
    return message_id, body


def raw_message(message_id: str, documents: list[dict[str, Any]]) -> tuple[str, str]:
    """A message as a client of the queue could have sent it (no check on the way in)."""
    body = {"v": 1, "received_at": int(NOW.timestamp()), "events": documents}
    return message_id, json.dumps(body)


def test_a_lead_with_150_events_in_one_message_is_written_in_several_transactions() -> None:
    store = MemoryLeadStore()
    hot = burst(HOT, 150)
    others = make_events(40, 8, seed=11)
    batch = [one_message("hot", hot), *bodies_of(others)]

    outcome = score(store, batch)

    assert not outcome.failed and not outcome.dead_letters
    assert outcome.stats.events_scored == 190
    assert store.transactions >= 3  # no transaction holds the hot lead's 150 events and more
    assert_scored_once(store, hot + others)
    again = score(store, batch)  # SQS delivers the whole batch again: nothing counts twice
    assert (again.stats.events_scored, again.stats.duplicates) == (0, 190)
    assert_scored_once(store, hot + others)


def test_a_crash_between_two_of_a_leads_transactions_is_made_good_by_redelivery() -> None:
    store = MemoryLeadStore()
    hot = burst(HOT, 150)
    written: list[int] = []

    def crash_after_the_first(chunk: list[LeadWrite]) -> None:
        if any(w.key == lead_key(HOT) for w in chunk):
            written.append(1)
            if len(written) == 2:
                raise ConnectionError("the process died between two transactions")

    store.before_commit = crash_after_the_first
    first = score(store, [one_message("hot", hot)])
    assert first.failed == {"hot"}  # SQS redelivers it
    assert 0 < len(store.lead_log(lead_key(HOT)).events) < 150
    store.before_commit = None

    second = score(store, [one_message("hot", hot)])
    assert not second.failed
    assert second.stats.duplicates == 150 - second.stats.events_scored
    assert_scored_once(store, hot)


def test_a_mixed_batch_scores_every_valid_event_and_dead_letters_only_the_invalid() -> None:
    """One lead with 150 events, one event with a 1,100-character id in a message beside a
    valid event of another lead, and ordinary leads: everything valid is scored once."""
    store = MemoryLeadStore()
    hot = burst(HOT, 150)
    others = make_events(30, 6, seed=12)
    neighbour = ("neighbour@corp3.example", Event("n-1", "demo_request", NOW))
    long_id = {**event_to_dict(Event("x" * 1_100, "page_view", NOW)), "email": "x@corp4.example"}
    neighbour_document = {**event_to_dict(neighbour[1]), "email": neighbour[0]}
    batch = [
        one_message("hot", hot),
        *bodies_of(others),
        raw_message("mixed", [neighbour_document, long_id]),
    ]

    outcome = score(store, batch)

    assert not outcome.failed
    [letter] = outcome.dead_letters
    assert letter.messages == {"mixed"} and "id" in letter.reason
    assert [e["id"] for e in json.loads(letter.body)["events"]] == ["x" * 1_100]
    assert_scored_once(store, hot + others + [neighbour])
    assert store.lead_log(lead_key("x@corp4.example")).profile is None


class RefusingStore(MemoryLeadStore):
    """A store that can never hold one lead's writes (as DynamoDB refuses an item over its
    limits), whatever else they are written with."""

    def __init__(self, poison: str) -> None:
        super().__init__()
        self.poison = lead_key(poison)

    def commit(
        self, writes: Sequence[LeadWrite], refused: dict[str, str] | None = None
    ) -> tuple[set[str], set[str]]:
        bad = [write for write in writes if self.poison in write.keys]
        assert refused is not None, "the scorer notes refusals"
        for write in bad:
            refused.update(dict.fromkeys(write.keys, "an item over the size limit"))
        return super().commit([w for w in writes if w not in bad], refused)


def test_a_lead_the_store_refuses_fails_alone_even_beside_its_accounts_other_leads() -> None:
    poison = "poison@corp2.example"
    store = RefusingStore(poison)
    colleagues = [
        (f"colleague{n}@corp2.example", Event(f"c-{n}", "demo_request", NOW)) for n in range(3)
    ]
    others = make_events(30, 6, seed=13)
    batch = [
        one_message("together", [(poison, Event("p-1", "demo_request", NOW)), *colleagues]),
        *bodies_of(others),
    ]

    outcome = score(store, batch)

    assert not outcome.failed
    [letter] = outcome.dead_letters
    assert letter.reason == "an item over the size limit" and letter.messages == {"together"}
    assert [e["id"] for e in json.loads(letter.body)["events"]] == ["p-1"]
    assert_scored_once(store, colleagues + others)  # written without the poison lead
    assert store.lead_log(lead_key(poison)).profile is None


def test_an_event_dated_in_the_future_is_taken_at_its_arrival_and_flagged() -> None:
    store = MemoryLeadStore()
    email = "time.traveller@corp5.example"
    future = Event("f-1", "demo_request", NOW.replace(year=2099), None, {}, {"job_title": "CEO"})
    skewed = Event("f-2", "page_view", NOW + timedelta(minutes=4), None, {"url": "/"})
    outcome = score(store, [one_message("m", [(email, future), (email, skewed)])])
    assert outcome.stats.future_dated == 1

    state = stored_state(store, email)
    assert state.last_activity_at == int((NOW + timedelta(minutes=4)).timestamp())  # in skew
    log = store.lead_log(lead_key(email))
    [stored] = [r for r in log.events if r.event.id == "f-1"]
    assert stored.event.occurred_at == NOW
    assert all(d["dated"] == "2099-11-01T12:00:00Z" for d in stored.deltas["default"])
    # The profile field is not pinned: a later update wins.
    update = Event("f-3", "page_view", NOW + timedelta(days=1), None, {}, {"job_title": "CFO"})
    later = NOW + timedelta(days=1)
    [body] = encode([(email, update)], later)
    score_messages([("n", body)], store, FixedModels(), Recorder(), clock=lambda: later)
    assert store.lead_log(lead_key(email)).profile.profile["job_title"] == "CFO"  # type: ignore[union-attr]


def test_a_form_sent_again_later_counts_again_and_its_retries_do_not() -> None:
    store = MemoryLeadStore()
    form = {
        "email": "prospect@corp6.example",
        "type": "form_submit",
        "properties": {"form": "demo"},
    }
    at = NOW.replace(minute=9, second=58)  # two seconds before a window's end

    def post(moment: Any, message_id: str) -> BatchOutcome:
        email, event = canonical_event(form, moment)
        [body] = encode([(email, event)], moment)
        return score_messages(
            [(message_id, body)], store, FixedModels(), Recorder(), clock=lambda: moment
        )

    assert post(at, "first").stats.events_scored == 1
    retry = post(at + timedelta(seconds=4), "retry")  # the next window: still a retry
    assert (retry.stats.events_scored, retry.stats.duplicates) == (0, 1)
    days_later = at + timedelta(days=3)
    assert post(days_later, "again").stats.events_scored == 1
    record = stored_record(store, "prospect@corp6.example")
    assert record.state.last_activity_at == int(days_later.timestamp())


def test_a_retry_across_a_window_boundary_counts_once_in_either_order() -> None:
    form = {"email": "prospect@corp7.example", "type": "form_submit", "properties": {"form": "x"}}
    before = NOW.replace(minute=9, second=59)
    after = before + timedelta(seconds=2)  # the next 10-minute window
    bodies = []
    for n, moment in enumerate((after, before)):  # the later delivery is scored first
        email, event = canonical_event(form, moment)
        [body] = encode([(email, event)], moment)
        bodies.append((f"m{n}", body))
    store = MemoryLeadStore()
    first = score(store, bodies[:1])
    second = score(store, bodies[1:])
    assert (first.stats.events_scored, second.stats.duplicates) == (1, 1)


def test_a_refused_lead_announces_no_account_change_that_was_not_written() -> None:
    profile = {"job_title": "VP Sales", "industry": "software", "company_size": 1000}
    profile |= {"country": "US", "annual_revenue": 90_000_000}

    def hot(email: str, tag: str) -> list[tuple[str, Event]]:
        kinds = ["demo_request", "meeting_booked", "page_view"]
        return [
            (email, Event(f"{tag}-{n}", kind, NOW - timedelta(minutes=n), None, {}, profile))
            for n, kind in enumerate(kinds)
        ]

    poison = "poison@corp2.example"
    store = RefusingStore(poison)
    score(store, [one_message("a", hot("colleague@corp2.example", "c"))])
    sent = Recorder()
    outcome = score_messages(
        [one_message("b", hot(poison, "p"))], store, FixedModels(), sent, clock=lambda: NOW
    )
    assert len(outcome.dead_letters) == 1 and outcome.stats.account_mqas == 0
    assert "account.mqa" not in sent.kinds()


def test_a_refused_share_goes_alone_to_the_dead_letters_and_the_lead_goes_on() -> None:
    class RefusesOneEvent(MemoryLeadStore):
        def commit(
            self, writes: Sequence[LeadWrite], refused: dict[str, str] | None = None
        ) -> tuple[set[str], set[str]]:
            bad = [
                w for w in writes
                if any(getattr(r, "event", None) and r.event.id == "b-0" for r in w.records)
            ]  # fmt: skip
            assert refused is not None
            for write in bad:
                refused.update(dict.fromkeys(write.keys, "an item over the size limit"))
            return super().commit([w for w in writes if w not in bad], refused)

    store = RefusesOneEvent()
    clicks = burst(HOT, 150)  # b-0 is the earliest: in the first share
    outcome = score(store, [one_message("hot", clicks)])
    [letter] = outcome.dead_letters
    refused = {e["id"] for e in json.loads(letter.body)["events"]}
    assert "b-0" in refused and len(refused) < 150
    logged = {r.event.id for r in store.lead_log(lead_key(HOT)).events}
    assert logged == {event.id for _, event in clicks} - refused  # the rest was written


def pages_then_demo(email: str, pages: int) -> list[tuple[str, Event]]:
    """A new lead's page views, then its demo request: it becomes an MQL with its last event."""
    url = {"url": "https://vendor.example/pricing"}
    views = [
        (email, Event(f"pv-{n}", "page_view", NOW - timedelta(minutes=200 - n), None, url, VP))
        for n in range(pages)
    ]
    return [*views, (email, Event("demo", "demo_request", NOW, None, {}, VP))]


@pytest.mark.parametrize("pages", [91, 92, 130])
def test_a_lead_becoming_an_mql_fits_its_transaction_with_its_log_entry_and_account(
    pages: int,
) -> None:
    """91 page views: the lead's write (its records, the MQL's log entry and pointer) is
    exactly the room left beside its account's record; one more, and it takes two
    transactions; 130 once failed the whole batch on every delivery."""
    store = MemoryLeadStore()
    email = "vp@corp.example"
    transactions: list[list[LeadWrite]] = []
    store.before_commit = lambda chunk: transactions.append(chunk) or None
    events = pages_then_demo(email, pages)

    outcome = score(store, bodies_of(events))

    assert not outcome.failed and not outcome.dead_letters
    assert (outcome.stats.events_scored, outcome.stats.mqls) == (pages + 1, 1)
    assert all(sum(map(write_items, chunk)) <= MAX_TRANSACTION_RECORDS for chunk in transactions)
    assert len(transactions) == (1 if pages == 91 else 2)
    if pages == 91:  # at the limit: the lead's own items fill the room exactly
        [[merged]] = transactions
        own = [r for r in merged.records if not isinstance(r, AccountRecord)]
        assert write_items(LeadWrite(merged.key, own)) == lead_room(1)
    [entry] = store.notification_log(log_day(int(NOW.timestamp())), 10, None)
    assert (entry.kind, entry.email, entry.sent_at is not None) == ("lead.mql", email, True)
    assert_scored_once(store, events)
