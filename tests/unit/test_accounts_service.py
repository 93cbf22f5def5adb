"""Account scores kept with their people's leads, against the in-memory store: parallel
people, duplicates, conflicts, failed notifications, refresh after rescoring."""

from __future__ import annotations

import random
from typing import Any

import pytest
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain import accounts
from leadscore.domain.emails import lead_key
from leadscore.domain.notifications import Notification
from leadscore.domain.state import LeadState
from leadscore.services.accounts import AccountsBusy, merge, people_of, refresh
from leadscore.services.scoring import score_messages
from leadscore.services.store import AccountRecord, LeadWrite, StateRecord

from tests.conftest import Recorder
from tests.unit.scoring_helpers import (
    NOW,
    FixedModels,
    activity,
    bodies_of,
    default_model,
    delivered_twice,
    distinct_kinds,
    score_in_parallel,
    stored_state,
)

DOMAIN = "acme-corp.example"
TITLES = ["Marketing Manager", "IT Manager", "VP Sales", "Data Engineer", "Intern", "Director"]
MANAGERS = ["Marketing Manager", "IT Manager", "Sales Manager"]


def account(store: MemoryLeadStore, domain: str = DOMAIN) -> AccountRecord:
    return store.accounts[domain, "default"]


def expected_people(store: MemoryLeadStore, emails: list[str]) -> dict[str, accounts.Person]:
    config = default_model().model.account
    assert config is not None
    return accounts.keep(
        config,
        [accounts.person_from_state(config, lead_key(e), stored_state(store, e)) for e in emails],
    )


def managers(prefix: str, count: int = 4) -> tuple[list[str], list[tuple[str, str]]]:
    """Three engaged managers of DOMAIN: their emails and one message per event."""
    emails = [f"{prefix}{n}@{DOMAIN}" for n in range(3)]
    pairs = [
        p for n, e in enumerate(emails) for p in activity(e, MANAGERS[n], f"{prefix}{n}", count)
    ]
    return emails, bodies_of(pairs)


def score(store: MemoryLeadStore, batch: list[tuple[str, str]], publisher: Any) -> Any:
    return score_messages(batch, store, FixedModels(), publisher, clock=lambda: NOW)


def score_shuffled_in_parallel(
    store: MemoryLeadStore, bodies: list[tuple[str, str]], publisher: Recorder
) -> None:
    queue = list(bodies)
    random.Random(3).shuffle(queue)
    score_in_parallel(queue, lambda batch: score(store, batch, publisher), workers=4)


def test_parallel_people_of_one_account_lose_nothing_and_duplicates_count_once() -> None:
    emails = [f"person{n}@{DOMAIN}" for n in range(len(TITLES))]
    events = [pair for n, e in enumerate(emails) for pair in activity(e, TITLES[n], f"p{n}")]
    events += activity("solo@gmail.com", "VP Sales", "free")  # free mail: never an account
    bodies = delivered_twice(bodies_of(events), 0.4, random.Random(5))
    store = MemoryLeadStore()
    recorder = Recorder()
    score_shuffled_in_parallel(store, bodies, recorder)

    config = default_model().model.account
    assert config is not None
    record = account(store)
    # Every person's latest state is in the account: no concurrent update was lost.
    assert people_of(record) == expected_people(store, emails)
    result = accounts.roll_up(config, people_of(record), "mqa", 0)
    assert record.state["score"] == result.score
    assert sum(c.points for c in result.contributions) == result.score
    assert record.state["status"] == "mqa"
    assert distinct_kinds(recorder.sent).count("account.mqa") == 1
    intern = next(c for c in result.contributions if c.key == lead_key(emails[4]))
    assert intern.points == 0 and not intern.person.counted
    assert not store.account_records("gmail.com")

    # Everything delivered again: nothing changes, nothing is announced again.
    version = record.version
    score_shuffled_in_parallel(store, bodies, recorder)
    assert account(store).version == version
    assert distinct_kinds(recorder.sent).count("account.mqa") == 1


def test_account_and_its_leads_conflict_together_and_are_recomputed() -> None:
    emails, bodies = managers("c")
    store = MemoryLeadStore()
    refused: list[list[str]] = []

    def lose_once(chunk: list[LeadWrite]) -> list[str]:
        if refused:
            return []
        refused.append([key for write in chunk for key in write.keys])
        return refused[0]

    store.before_commit = lose_once
    recorder = Recorder()
    outcome = score(store, bodies, recorder)
    assert sorted(refused[0]) == sorted(lead_key(e) for e in emails)  # one write: the account's
    assert not outcome.failed and outcome.stats.conflicts_retried == 3
    assert outcome.stats.account_mqas == 1 and recorder.kinds().count("account.mqa") == 1
    assert people_of(account(store)) == expected_people(store, emails)


def test_failed_account_notification_stays_pending_and_is_published_on_redelivery() -> None:
    class NoAccountAlerts(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.fail = True

        def publish(self, notification: Any) -> None:
            if self.fail and notification.kind == "account.mqa":
                raise RuntimeError("SNS down")
            super().publish(notification)

    emails, bodies = managers("f")
    store = MemoryLeadStore()
    publisher = NoAccountAlerts()
    first = score(store, bodies, publisher)
    assert first.failed == {m for m, _ in bodies}  # every lead of that account is redelivered
    (pending,) = account(store).pending.values()
    assert pending.kind == "account.mqa"
    assert {p["email"] for p in pending.document["people"]} == set(emails)
    publisher.fail = False
    again = score(store, bodies, publisher)
    assert not again.failed and again.stats.events_scored == 0
    assert [n.id for n in publisher.sent if n.kind == "account.mqa"] == [pending.id]
    assert account(store).pending == {}


def test_refresh_after_states_are_rebuilt() -> None:
    """What rescoring calls once it has rewritten lead states."""
    emails, bodies = managers("r")
    store = MemoryLeadStore()
    recorder = Recorder()
    assert not score(store, bodies, recorder).failed
    assert account(store).state["status"] == "mqa"
    keys = [lead_key(e) for e in emails]
    snapshots, _ = store.read_leads(dict.fromkeys(keys, ()), ["default"])
    rebuilt: list[StateRecord] = []
    for key in keys:  # as if a new model version took every engagement point away
        record = snapshots[key].states["default"]
        state = LeadState.from_dict(record.state.to_dict())
        state.engagement, state.score = 0, state.fit // 2
        record.state = state
        rebuilt.append(record)
    assert store.commit([LeadWrite(r.key, [r]) for r in rebuilt])[1] == set()
    sent = len(recorder.sent)
    models = FixedModels().current()
    assert refresh(keys, store, models, recorder, NOW, notify=False) == 1
    assert account(store).state["status"] == "open"
    assert len(recorder.sent) == sent  # notify=False: sales is not told
    assert refresh(keys, store, models, recorder, NOW) == 0  # already in step


def test_refresh_retries_a_conflict_and_reports_one_that_never_settles() -> None:
    emails, bodies = managers("s")
    store = MemoryLeadStore()
    assert not score(store, bodies, Recorder()).failed
    keys = [lead_key(e) for e in emails]
    store.accounts.clear()  # the account is behind its people (as after a lost write)
    refused: list[str] = []

    def lose_once(chunk: list[LeadWrite]) -> list[str]:
        if refused:
            return []
        refused.extend(key for write in chunk for key in write.keys)
        return refused

    store.before_commit = lose_once
    models = FixedModels().current()
    assert refresh(keys, store, models, Recorder(), NOW, notify=False) == 1
    assert refused == [DOMAIN] and people_of(account(store)) == expected_people(store, emails)

    store.accounts.clear()
    store.before_commit = lambda chunk: [key for write in chunk for key in write.keys]
    with pytest.raises(AccountsBusy):
        refresh(keys, store, models, Recorder(), NOW, notify=False, attempts=2, must_settle=True)
    assert refresh(keys, store, models, Recorder(), NOW, notify=False, attempts=2) == 0
    assert not store.account_records(DOMAIN)


def test_merge_puts_an_account_with_its_leads_and_defers_what_does_not_fit() -> None:
    records = {DOMAIN: [AccountRecord(DOMAIN, "default")]}
    writes = [
        LeadWrite("a", [StateRecord("a", "default", LeadState("default"))] * 60, {1}),
        LeadWrite("b", [StateRecord("b", "default", LeadState("default"))] * 30, {0}),
        LeadWrite("c", [StateRecord("c", "default", LeadState("default"))] * 20),
        LeadWrite("d", [StateRecord("d", "default", LeadState("default"))]),
    ]
    domains = {"a": DOMAIN, "b": DOMAIN, "c": DOMAIN}
    merged, deferred = merge(writes, domains, records)
    assert deferred == {"c"}  # 1 + 60 + 30 + 20 records: over one transaction's 100
    group, alone = merged
    assert group.keys == ["a", "b"] and len(group.records) == 91
    assert group.records[0] is records[DOMAIN][0] and group.new == {2, 61}
    assert alone is writes[3]


def test_merge_counts_the_log_items_of_the_notifications_recorded() -> None:
    """An MQA and an MQL recorded by the write each add a log item and its pointer: 97
    records fit in one transaction, their 101 items do not."""
    at = 1_800_000_000

    def recorded(kind: str, email: str) -> dict[str, Notification]:
        notification = Notification(f"{kind}:default:x:{at}", kind, "New", {"email": email},
                                    "text", recorded_at=at)  # fmt: skip
        return {notification.id: notification}

    account = AccountRecord(DOMAIN, "default", updated_at=at,
                            pending=recorded("account.mqa", f"vp@{DOMAIN}"))  # fmt: skip
    mql = StateRecord("a", "default", LeadState("default"), recorded("lead.mql", f"vp@{DOMAIN}"),
                      updated_at=at)  # fmt: skip
    plain = StateRecord("a", "default", LeadState("default"))
    writes = [LeadWrite("a", [mql, *[plain] * 94]), LeadWrite("b", [plain])]
    merged, deferred = merge(writes, {"a": DOMAIN, "b": DOMAIN}, {DOMAIN: [account]})
    assert deferred == {"b"}  # 1 + 95 + 1 records, but 3 + 97 + 1 items
    [group] = merged
    assert group.keys == ["a"] and len(group.records) == 96
