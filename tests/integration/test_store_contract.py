"""The store port's contract, run against both stores: in memory, and DynamoDB inside moto."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.notifications import Notification
from leadscore.domain.state import LeadState
from leadscore.services.notification_log import NOTIFICATION_LOG_DAYS, log_day, logged
from leadscore.services.store import (
    AccountRecord,
    AccountRow,
    ChangeRecord,
    ErasureCheck,
    EventRecord,
    FeedbackRecord,
    LeadRecord,
    LeadRow,
    LeadStore,
    LeadWrite,
    ListFilters,
    ProfileRecord,
    StateRecord,
    WriteRefused,
    lead_row,
    list_shard_of,
    shard_of,
)

T0 = 1_700_000_000
EXPIRES = 2_000_000_000


def _memory(request: pytest.FixtureRequest) -> LeadStore:
    return MemoryLeadStore()


def _dynamo(request: pytest.FixtureRequest) -> LeadStore:
    request.getfixturevalue("aws")  # moto, with the table of template.yaml
    return DynamoLeadStore()


STORES: dict[str, Callable[[pytest.FixtureRequest], LeadStore]] = {
    "memory": _memory,
    "dynamo": _dynamo,
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> LeadStore:
    return STORES[request.param](request)


def lead(shard: int, n: int = 0) -> str:
    """A lead key in `shard`, ordered by `n` within it."""
    key = f"{n:03x}{shard:x}" + "ab" * 14
    assert shard_of(key) == shard
    return key


def profile(key: str, **fields: Any) -> ProfileRecord:
    return ProfileRecord(
        key,
        f"{key[:6]}@acme.example",
        {"company": "Acme", **fields},
        {"company": T0},
        created_at=T0,
        updated_at=T0,
        account="acme.example",
    )


def notification(n: int) -> Notification:
    return Notification(
        f"lead.mql:fit:{n}",
        "lead.mql",
        "New MQL",
        {"score": 71.5, "reasons": [{"key": "title", "points": 20}]},
        "A new MQL",
        {"kind": "lead.mql"},
    )


def state(key: str, model: str = "fit", due_at: int | None = None, score: int = 0) -> StateRecord:
    return StateRecord(
        key,
        model,
        LeadState(model, model_version=2, score=score, reasons={"title": [score, 1]}),
        updated_at=T0,
        account_domain="acme.example",
        due_at=due_at,
    )


def event(key: str, event_id: str, at: int = T0) -> EventRecord:
    return EventRecord(
        key,
        Event(
            event_id,
            "page_view",
            datetime.fromtimestamp(at, UTC),
            product="app",
            properties={"url": "/pricing", "ms": 1.5},
            profile={"title": "CTO"},
        ),
        received_at=at + 1,
        deltas={"fit": [{"kind": "event", "points": 5.0, "event_id": event_id}]},
        expires_at=EXPIRES,
    )


def change(key: str, at: int, tag: str = "000000001#decay", model: str = "fit") -> ChangeRecord:
    return ChangeRecord(
        key, at, model, tag, {model: [{"kind": "decay", "points": -2.5}]}, expires_at=EXPIRES
    )


def account(domain: str = "acme.example", model: str = "fit") -> AccountRecord:
    return AccountRecord(
        domain,
        model,
        {lead(0): [7000, T0, "open"]},
        {"status": "open", "score": 7000, "rating": "B2"},
        {"account.mqa:fit:1": notification(9)},
        updated_at=T0,
    )


def commit(store: LeadStore, *writes: LeadWrite) -> tuple[set[str], set[str]]:
    return store.commit(list(writes))


def write(key: str, *records: LeadRecord, new: set[int] | None = None) -> LeadWrite:
    return LeadWrite(key, list(records), new or set())


# -- round trips ------------------------------------------------------------------------


def test_every_record_comes_back_as_written(store: LeadStore) -> None:
    key = lead(3)
    stored_profile, stored_state = profile(key), state(key, due_at=T0 + 60, score=5000)
    stored_state.pending = {"lead.mql:fit:1": notification(1)}
    logged, later = event(key, "e-1", T0), change(key, T0 + 5)
    stored_account = account()
    assert commit(
        store,
        LeadWrite(key, [stored_profile, stored_state, logged, later, stored_account], {2, 3}),
    ) == ({key}, set())

    snapshots, accounts = store.read_leads(
        {key: ["e-1", "e-2"]}, ["fit", "other"], ["acme.example", "none.example"], ["fit"]
    )
    snapshot = snapshots[key]
    assert snapshot.profile == stored_profile
    assert snapshot.states == {"fit": stored_state}
    assert snapshot.logged == {"e-1"}
    assert snapshot.erased_at is None
    assert accounts == {"acme.example": {"fit": stored_account}, "none.example": {}}
    assert store.read_profiles([key, lead(4)]) == {key: stored_profile}
    assert store.account_records("acme.example") == [stored_account]

    log = store.lead_log(key)
    assert (log.profile, log.states, log.erased_at) == (stored_profile, {"fit": stored_state}, None)
    assert log.events == [logged]
    assert log.changes == [later]
    assert log.feedback == []


def test_a_profile_keeps_the_source_of_each_field(store: LeadStore) -> None:
    key, earlier = lead(3, 1), lead(3, 2)
    sourced = replace(profile(key, title="CTO"), field_sources={"company": "segment",
                                                                "title": "form"})  # fmt: skip
    commit(store, write(key, sourced), write(earlier, profile(earlier)))
    assert store.read_profiles([key])[key].field_sources == {"company": "segment", "title": "form"}
    # a profile stored before sources were kept (no attribute in its item) has none
    assert store.read_profiles([earlier])[earlier].field_sources == {}


def test_profiles_and_accounts_are_read_together(store: LeadStore) -> None:
    key, erased, stranger = lead(15, 1), lead(15, 2), lead(15, 3)
    stored, shared = profile(key), account()
    commit(store, write(key, stored, state(key), event(key, "e-1"), shared))
    commit(store, write(erased, profile(erased)))
    store.erase(erased, T0, T0 + 86_400)
    profiles, accounts = store.read_profiles_and_accounts(
        [key, erased, stranger], ["acme.example", "none.example"], ["fit", "other"]
    )
    assert profiles == {key: stored}
    assert accounts == {"acme.example": {"fit": shared}, "none.example": {}}
    assert store.read_profiles_and_accounts([key], [], ["fit"]) == ({key: stored}, {})
    assert store.read_profiles_and_accounts([], ["acme.example"], []) == ({}, {"acme.example": {}})


def test_a_lead_never_written_reads_as_empty(store: LeadStore) -> None:
    key = lead(1)
    snapshots, accounts = store.read_leads({key: ["e-1"]}, ["fit"], ["acme.example"], ["fit"])
    assert (snapshots[key].profile, snapshots[key].states, snapshots[key].logged) == (
        None,
        {},
        set(),
    )
    assert accounts == {"acme.example": {}}
    assert store.read_profiles([key]) == {}
    log = store.lead_log(key)
    assert (log.profile, log.states, log.events, log.changes, log.feedback) == (
        None,
        {},
        [],
        [],
        [],
    )
    assert store.account_records("acme.example") == []


def test_ttl_fields_are_kept(store: LeadStore) -> None:
    key = lead(2)
    commit(store, write(key, event(key, "e-1"), change(key, T0), new={0, 1}))
    assert store.record_feedback(key, FeedbackRecord("won", T0, expires_at=EXPIRES)) is False
    commit(store, write(key, profile(key)))
    assert store.record_feedback(key, FeedbackRecord("won", T0, "fit", "big deal", EXPIRES))
    log = store.lead_log(key)
    assert [r.expires_at for r in log.events] == [EXPIRES]
    assert [r.expires_at for r in log.changes] == [EXPIRES]
    assert log.feedback == [FeedbackRecord("won", T0, "fit", "big deal", EXPIRES)]


# -- versions and conditions ----------------------------------------------------------------


def test_versions_start_at_one_and_are_copied_back(store: LeadStore) -> None:
    key = lead(5)
    records = [profile(key), state(key), state(key, "other"), account()]
    assert commit(store, write(key, *records)) == ({key}, set())
    assert [r.version for r in records] == [1, 1, 1, 1]
    assert commit(store, write(key, *records)) == ({key}, set())
    assert [r.version for r in records] == [2, 2, 2, 2]
    snapshots, accounts = store.read_leads({key: []}, ["fit", "other"], ["acme.example"], ["fit"])
    assert snapshots[key].profile is not None and snapshots[key].profile.version == 2
    assert {m: s.version for m, s in snapshots[key].states.items()} == {"fit": 2, "other": 2}
    assert accounts["acme.example"]["fit"].version == 2


@pytest.mark.parametrize("record", ["profile", "state", "account"])
def test_a_stale_version_is_retried_and_writes_nothing(store: LeadStore, record: str) -> None:
    key = lead(6)
    make = {"profile": lambda: profile(key), "state": lambda: state(key), "account": account}
    first = make[record]()
    commit(store, write(key, first))
    stale = make[record]()
    stale.version = 0
    assert commit(store, write(key, stale)) == (set(), {key})
    fresh = make[record]()  # version None: only where none is stored
    assert commit(store, write(key, fresh, event(key, "e-1"))) == (set(), {key})
    assert fresh.version is None
    assert store.lead_log(key).events == []
    assert commit(store, write(key, first)) == ({key}, set())  # its version was copied back


def test_a_new_record_over_a_stored_one_is_retried(store: LeadStore) -> None:
    key = lead(7)
    commit(store, write(key, event(key, "e-1"), change(key, T0), new={0, 1}))
    replayed = state(key)
    assert commit(store, write(key, replayed, event(key, "e-1"), new={1})) == (set(), {key})
    assert commit(store, write(key, replayed, change(key, T0), new={1})) == (set(), {key})
    assert store.read_leads({key: []}, ["fit"])[0][key].states == {}
    # Without `new`, a record that has no version is simply written again.
    again = event(key, "e-1")
    again.deltas = {}
    assert commit(store, write(key, again)) == ({key}, set())
    assert store.lead_log(key).events == [again]


def test_a_transaction_is_all_or_nothing_and_others_go_on(store: LeadStore) -> None:
    """Leads share a transaction until it holds 100 records: a failed condition in one
    retries every lead of its transaction and writes none of their records."""
    a, b, c = lead(0, 1), lead(0, 2), lead(0, 3)
    commit(store, write(b, state(b)))
    stale = state(b)  # version None over a stored state
    first = write(a, profile(a), *[change(a, T0 + i) for i in range(59)])
    second = write(b, stale, profile(b), *[change(b, T0 + i) for i in range(58)])
    third = write(c, profile(c), *[change(c, T0 + i) for i in range(59)])
    # 60 + 60 > 100: three transactions.
    assert commit(store, first, second, third) == ({a, c}, {b})
    assert store.read_profiles([a, b, c]).keys() == {a, c}
    assert len(store.lead_log(b).changes) == 0
    assert len(store.lead_log(c).changes) == 59

    d, e = lead(0, 4), lead(0, 5)
    stale_again = state(b)
    assert commit(
        store, write(d, profile(d), change(d, T0)), write(e, profile(e), stale_again)
    ) == (
        set(),
        {d, e},
    )
    assert store.read_profiles([d, e]) == {}
    assert store.lead_log(d).changes == []


def test_an_account_write_succeeds_or_retries_with_all_its_leads(store: LeadStore) -> None:
    a, b = lead(1, 1), lead(1, 2)
    merged = LeadWrite(a, [profile(a), profile(b), account()], also=[b])
    assert commit(store, merged) == ({a, b}, set())
    stale = LeadWrite(a, [state(a), account()], also=[b])
    assert commit(store, stale) == (set(), {a, b})
    assert store.read_leads({a: []}, ["fit"])[0][a].states == {}


def test_a_write_over_100_items_is_refused_and_the_others_written(store: LeadStore) -> None:
    a, b, big, logs = lead(2, 1), lead(2, 2), lead(2, 3), lead(2, 4)
    fine = [write(k, profile(k), *[change(k, T0 + i) for i in range(59)]) for k in (a, b)]
    oversized = write(big, *[change(big, T0 + i) for i in range(101)])
    # 99 records, and the log entry of the MQL it records with its pointer: 101 items
    crossing = replace(state(logs), pending=recorded(mql(logs, T0, recorded_at=T0)))
    with_log = write(logs, crossing, *[change(logs, T0 + i) for i in range(98)])
    with pytest.raises(WriteRefused, match="101 items"):
        commit(store, *fine, oversized)  # checked before the first transaction
    assert store.read_profiles([a, b]) == {}
    assert store.lead_log(big).changes == []
    refused: dict[str, str] = {}
    assert store.commit([*fine, oversized, with_log], refused) == ({a, b}, set())
    assert refused.keys() == {big, logs} and "101 items" in refused[logs]
    assert store.lead_log(logs).states == {}


def test_pending_notifications_are_set_then_cleared_without_a_version_change(
    store: LeadStore,
) -> None:
    key = lead(8)
    recorded = state(key)
    recorded.pending = {"lead.mql:fit:1": notification(1), "lead.mql:fit:2": notification(2)}
    commit(store, write(key, recorded))
    store.clear_pending(key, "fit", ["lead.mql:fit:1", "unknown"])
    after = store.read_leads({key: []}, ["fit"])[0][key].states["fit"]
    assert after.pending == {"lead.mql:fit:2": notification(2)}
    assert after.version == 1
    assert commit(store, write(key, after)) == ({key}, set())  # its version still holds

    commit(store, write(key, account()))
    store.clear_account_pending("acme.example", "fit", ["account.mqa:fit:1"])
    [stored] = store.account_records("acme.example")
    assert (stored.pending, stored.version) == ({}, 1)


def test_clearing_pending_keeps_a_later_version_so_a_stale_writer_still_retries(
    store: LeadStore,
) -> None:
    key = lead(8, 1)
    stale = state(key)
    commit(store, write(key, stale))  # version 1: a second writer holds this copy
    current = store.read_leads({key: []}, ["fit"])[0][key].states["fit"]
    current.pending = {"lead.mql:fit:1": notification(1)}
    commit(store, write(key, current))
    commit(store, write(key, current))  # version 3
    store.clear_pending(key, "fit", ["lead.mql:fit:1"])
    assert store.read_leads({key: []}, ["fit"])[0][key].states["fit"].version == 3
    stale.version = 1
    assert commit(store, write(key, stale)) == (set(), {key})  # not over the newer state

    shared = account()
    commit(store, write(key, shared))
    shared.pending = {"account.mqa:fit:1": notification(1)}
    commit(store, write(key, shared))
    store.clear_account_pending("acme.example", "fit", ["account.mqa:fit:1"])
    [stored] = store.account_records("acme.example")
    assert (stored.pending, stored.version) == ({}, 2)


def test_clearing_the_pending_of_a_missing_state_raises(store: LeadStore) -> None:
    store.clear_pending(lead(9), "fit", [])  # nothing to clear: nothing checked
    with pytest.raises(LookupError):
        store.clear_pending(lead(9), "fit", ["lead.mql:fit:1"])
    with pytest.raises(LookupError):
        store.clear_account_pending("acme.example", "fit", ["account.mqa:fit:1"])


# -- the notification log ------------------------------------------------------------------


def mql(
    key: str, at: int, email: str = "jane@acme.example", recorded_at: int | None = None
) -> Notification:
    """A lead's notification as the scorer records it: its id ends with the transition's time,
    `recorded_at` is its write's."""
    document = {"kind": "lead.mql", "email": email, "score": 71.5}
    return Notification(f"lead.mql:fit:{key[:16]}:{at}", "lead.mql", f"New MQL {at}", document,
                        "A new MQL", {"kind": "lead.mql"}, recorded_at)  # fmt: skip


def recorded(*notifications: Notification) -> dict[str, Notification]:
    return {n.id: n for n in notifications}


def test_a_notification_is_logged_by_the_write_that_records_it_then_marked_sent(
    store: LeadStore,
) -> None:
    key, day = lead(5), 86_400
    yesterday = mql(key, T0 - day, recorded_at=T0 - day)
    record = replace(state(key), updated_at=T0 - day, pending=recorded(yesterday))
    commit(store, write(key, record))
    store.notifications_sent([logged(yesterday, "fit")], T0 - day + 5)
    # Written again while it is still pending (its clearing failed): logged once, still sent.
    # A back-dated MQL (its transition 40 days ago) is logged on the day it is recorded.
    back_dated = mql(key, T0 - 40 * day, recorded_at=T0)
    record.updated_at, record.pending = T0, recorded(yesterday, back_dated)
    commit(store, write(key, record))
    latest = mql(key, T0 + 60, recorded_at=T0 + 60)
    record.updated_at, record.pending = T0 + 60, recorded(yesterday, back_dated, latest)
    commit(store, write(key, record))

    today = store.notification_log(log_day(T0), 10, None)
    assert [n.id for n in today] == [latest.id, back_dated.id]
    assert (today[1].recorded_at, today[1].transition_at) == (T0, T0 - 40 * day)
    [entry] = store.notification_log(log_day(T0 - day), 10, None)
    assert (entry.id, entry.email, entry.model, entry.subject) == (
        yesterday.id, "jane@acme.example", "fit", f"New MQL {T0 - day}"
    )  # fmt: skip
    assert (entry.recorded_at, entry.sent_at) == (T0 - day, T0 - day + 5)
    assert store.notification_log(log_day(T0 - 40 * day), 10, None) == []
    # a page goes on before the last entry read
    [older] = store.notification_log(log_day(T0), 1, today[0].place)
    assert older.id == back_dated.id

    store.clear_pending(key, "fit", [back_dated.id])
    store.notifications_sent([logged(back_dated, "fit")], T0 + 65)
    by_id = {n.id: n for n in store.notification_log(log_day(T0), 10, None)}
    assert (by_id[back_dated.id].sent_at, by_id[latest.id].sent_at) == (T0 + 65, None)
    # a notification the log never had (recorded before it existed) is left out
    store.notifications_sent([logged(mql(key, T0 + 7), "fit")], T0 + 8)
    assert len(store.notification_log(log_day(T0), 10, None)) == 2

    mqa = replace(mql(lead(6), T0 + 9, recorded_at=T0), id="account.mqa:fit:acme:1")
    commit(store, write(lead(6), replace(account(), pending=recorded(mqa))))
    assert len(store.notification_log(log_day(T0), 10, None)) == 3  # accounts' too


def test_dynamo_log_items_expire_30_days_after_they_were_recorded(aws: None) -> None:
    store, key = DynamoLeadStore(), lead(5)
    back_dated = mql(key, T0 - 40 * 86_400, recorded_at=T0)
    commit(store, write(key, replace(state(key), pending=recorded(back_dated))))
    client = boto3.client("dynamodb")
    [item] = client.query(
        TableName=os.environ["TABLE_NAME"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"ALERTS#{log_day(T0)}"}},
    )["Items"]
    assert item["sk"]["S"] == f"{T0:011d}#{back_dated.id}"
    assert item["expires_at"]["N"] == str(T0 + NOTIFICATION_LOG_DAYS * 86_400)
    assert (item["created_at"]["N"], item["transition_at"]["N"]) == (str(T0), str(T0 - 40 * 86_400))


def test_erasure_deletes_the_log_entries_that_name_the_lead(store: LeadStore) -> None:
    key, other = lead(7), lead(7, 1)
    erased, kept = lead_key("erased@acme.example"), lead_key("kept@acme.example")
    mine = replace(state(erased), pending=recorded(mql(erased, T0, "erased@acme.example", T0)))
    theirs = replace(state(kept), pending=recorded(mql(kept, T0, "kept@acme.example", T0)))
    # an account's notification names its strongest person: its pointer is under that lead
    mqa = replace(mql(erased, T0 + 1, "erased@acme.example", T0), id="account.mqa:fit:acme:1")
    commit(store, write(erased, profile(erased), mine), write(kept, theirs))
    commit(store, write(key, replace(account(), pending=recorded(mqa))), write(other, state(other)))
    assert len(store.notification_log(log_day(T0), 10, None)) == 3
    store.erase(erased, T0 + 3_600, T0 + 86_400)
    emails = [n.email for n in store.notification_log(log_day(T0), 10, None)]
    assert emails == ["kept@acme.example"]
    assert store.lead_log(erased).states == {}


def test_dynamo_erasure_reads_only_the_leads_partition(aws: None) -> None:
    """Its log entries are found through the pointers under it: no day of the log is read."""
    from leadscore.adapters.dynamo import LeadTable, connection

    store, key = DynamoLeadStore(), lead_key("erased@acme.example")
    for n in range(5):  # notifications on five days
        at = T0 - n * 86_400
        notification = mql(key, at, "erased@acme.example", at)
        commit(store, write(key, replace(state(key, f"m{n}"), updated_at=at,
                                         pending=recorded(notification))))  # fmt: skip
    queried: list[str] = []

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("Query", "Scan"):
            values = [str(v.get("S")) for v in params["ExpressionAttributeValues"].values()]
            queried.extend(v for v in values if "#" in v)  # partitions (not item kinds)

    classes = [LeadTable, *LeadTable.__subclasses__()]
    clients = {id(c.client): c.client for c in
               [*(k._get_connection().connection for k in classes), connection()]}  # fmt: skip
    for client in clients.values():
        client.meta.events.register("before-parameter-build.dynamodb", note)
    try:
        store.erase(key, T0 + 3_600, T0 + 86_400)
    finally:
        for client in clients.values():
            client.meta.events.unregister("before-parameter-build.dynamodb", note)
    assert queried and set(queried) == {f"LEAD#{key}"}  # its partition, once a pass
    assert all(store.notification_log(log_day(T0 - n * 86_400), 10, None) == [] for n in range(5))


# -- listings ------------------------------------------------------------------------------


def test_due_page_lists_due_states_by_due_time_page_by_page(store: LeadStore) -> None:
    due = {lead(4, n): T0 + 100 - n * 10 for n in range(7)}  # later leads are due earlier
    for key, at in due.items():
        commit(store, write(key, state(key, due_at=at), state(key, "other", due_at=at + 5)))
    later, elsewhere, never = lead(4, 9), lead(5, 1), lead(4, 10)
    commit(store, write(later, state(later, due_at=T0 + 10_000)))
    commit(store, write(elsewhere, state(elsewhere, due_at=T0)))
    commit(store, write(never, state(never)))

    seen: list[tuple[int, str, str]] = []
    cursor: Any = None
    pages = 0
    while True:
        found, cursor = store.due_page(4, T0 + 100, 3, json.loads(json.dumps(cursor)))
        pages += 1
        entries = [(s.due_at or 0, k, m) for k, states in found.items() for m, s in states.items()]
        assert len(entries) <= 3
        assert cursor is None or len(entries) == 3  # a page before the last is full
        seen += sorted(entries)
        if cursor is None:
            break
    expected = sorted(
        [(at, key, "fit") for key, at in due.items()]
        + [(at + 5, key, "other") for key, at in due.items() if at + 5 <= T0 + 100]
    )
    assert seen == expected
    assert pages >= 4
    found, _ = store.due_page(5, T0, 10, None)
    assert list(found) == [elsewhere]
    assert store.due_page(4, T0 - 1, 10, None) == ({}, None)


def test_due_page_hands_back_whole_states(store: LeadStore) -> None:
    key = lead(6, 1)
    stored = state(key, due_at=T0, score=4200)
    stored.pending = {"lead.mql:fit:1": notification(1)}
    commit(store, write(key, stored))
    found, cursor = store.due_page(6, T0, 10, None)
    assert (found, cursor) == ({key: {"fit": stored}}, None)
    stored.due_at = None  # nothing due any more: out of the listing
    commit(store, write(key, stored))
    assert store.due_page(6, T0, 10, None) == ({}, None)


def test_lead_keys_lists_every_lead_with_a_profile_page_by_page(store: LeadStore) -> None:
    keys = [lead(3, n) for n in range(5)]
    for key in keys:
        commit(store, write(key, profile(key), state(key)))
    commit(store, write(lead(3, 20), state(lead(3, 20))))  # no profile: not a lead yet
    commit(store, write(lead(7, 1), profile(lead(7, 1))))  # another shard

    listed: list[str] = []
    cursor: Any = None
    while True:
        page, cursor = store.lead_keys(3, 2, json.loads(json.dumps(cursor)))
        assert len(page) <= 2 and (cursor is None or len(page) == 2)
        listed += page
        if cursor is None:
            break
    assert listed == sorted(keys)
    assert store.lead_keys(7, 10, None) == ([lead(7, 1)], None)
    assert store.lead_keys(8, 10, None) == ([], None)


def test_lead_log_holds_events_and_changes_oldest_first(store: LeadStore) -> None:
    key = lead(10)
    events = [event(key, "e-b", T0 + 20), event(key, "e-a", T0 + 30), event(key, "e-c", T0 + 10)]
    changes = [
        change(key, T0 + 15, "decay"),
        change(key, T0 + 15, "000000002#rescore"),
        change(key, T0 + 15, "decay", model="abc"),
        change(key, T0 + 5, "000000001#engagement"),
    ]
    commit(store, write(key, profile(key), state(key), *events, *changes))
    log = store.lead_log(key)
    assert [r.event.id for r in log.events] == ["e-c", "e-b", "e-a"]
    assert [(r.at, r.model, r.tag) for r in log.changes] == [
        (T0 + 5, "fit", "000000001#engagement"),
        (T0 + 15, "abc", "decay"),
        (T0 + 15, "fit", "000000002#rescore"),
        (T0 + 15, "fit", "decay"),
    ]
    assert log.events[0] == events[2]
    assert log.changes[0] == changes[3]


def test_an_unreadable_logged_event_keeps_its_deltas(store: LeadStore) -> None:
    """An event logged in a format that no longer reads (here a blank type) is not handed out
    to replay, but its deltas stay in the log (the history adds up to the score) and its id
    stays logged (a redelivery is still a duplicate)."""
    key = lead(10, 1)
    readable, unreadable = event(key, "e-1", T0), event(key, "e-2", T0 + 10)
    unreadable.event = replace(unreadable.event, type="  ")
    commit(store, write(key, profile(key), readable, unreadable, new={1, 2}))
    log = store.lead_log(key)
    assert log.events == [readable]
    assert log.unreadable == {"e-2": unreadable.deltas}
    assert store.read_leads({key: ["e-1", "e-2"]}, [])[0][key].logged == {"e-1", "e-2"}


# -- erasure and feedback --------------------------------------------------------------------


def test_erase_leaves_only_the_marker_and_the_hashed_event_ids(store: LeadStore) -> None:
    key = lead(11)
    commit(
        store,
        write(key, profile(key), state(key, due_at=T0), event(key, "e-1"), change(key, T0)),
        write(lead(12), profile(lead(12))),
        write(key, account()),
    )
    store.record_feedback(key, FeedbackRecord("accepted", T0))
    store.erase(key, T0 + 99, T0 + 86_400)

    wanted = {key: ["e-1", "e-2"]}
    snapshots, accounts = store.read_leads(wanted, ["fit"], ["acme.example"], ["fit"])
    snapshot = snapshots[key]
    assert snapshot.erased_at == T0 + 99
    assert (snapshot.profile, snapshot.states, snapshot.logged) == (None, {}, set())
    assert snapshot.forgotten == {"e-1"}  # a replay of e-1 is known; e-2 was never seen
    log = store.lead_log(key)
    assert log.erased_at == T0 + 99
    assert (log.profile, log.states, log.events, log.changes, log.feedback) == (
        None,
        {},
        [],
        [],
        [],
    )
    assert store.due_page(shard_of(key), T0, 10, None) == ({}, None)
    assert key not in store.lead_keys(shard_of(key), 100, None)[0]
    assert store.read_profiles([lead(12)]).keys() == {lead(12)}  # others untouched
    assert list(accounts["acme.example"]) == ["fit"]  # the account is refreshed by its service


def test_the_forgotten_ids_outlive_a_new_lead_at_the_same_key(store: LeadStore) -> None:
    key = lead(14)
    commit(store, write(key, profile(key), event(key, "e-1"), new={1}))
    store.erase(key, T0 + 5, T0 + 86_400)
    commit(store, write(key, profile(key), event(key, "e-9"), new={1}))  # a new interaction
    snapshot = store.read_leads({key: ["e-1", "e-9"]}, [])[0][key]
    assert (snapshot.logged, snapshot.forgotten, snapshot.erased_at) == ({"e-9"}, {"e-1"}, T0 + 5)
    store.erase(key, T0 + 9, T0 + 86_400)  # erased again: both are remembered
    snapshot = store.read_leads({key: ["e-1", "e-9"]}, [])[0][key]
    assert (snapshot.forgotten, snapshot.erased_at) == ({"e-1", "e-9"}, T0 + 9)


def test_an_erasure_check_holds_the_write_to_the_marker_it_read(store: LeadStore) -> None:
    key = lead(15)
    # No marker read, none there: written.
    assert commit(store, write(key, profile(key), ErasureCheck(key, None))) == ({key}, set())
    store.erase(key, T0 + 5, T0 + 86_400)
    # A writer that read no marker: retried, nothing written.
    stale = write(key, profile(key), event(key, "late"), ErasureCheck(key, None), new={1})
    assert commit(store, stale) == (set(), {key})
    assert store.read_leads({key: ["late"]}, [])[0][key].logged == set()
    # A writer that read this marker (a new interaction after the erasure): written.
    fresh = write(key, profile(key), ErasureCheck(key, T0 + 5))
    assert commit(store, fresh) == ({key}, set())
    # Erased again since: the marker moved, the write is retried.
    store.erase(key, T0 + 7, T0 + 86_400)
    assert commit(store, write(key, profile(key), ErasureCheck(key, T0 + 5))) == (set(), {key})


def test_a_write_the_store_cannot_hold_is_refused_alone(store: LeadStore) -> None:
    good, long_id, huge = lead(1, 1), lead(1, 2), lead(1, 3)
    writes = [
        write(good, profile(good), event(good, "fine"), new={1}),
        write(long_id, profile(long_id), event(long_id, "x" * 1_100), new={1}),
        write(huge, profile(huge, notes="y" * 420_000)),
    ]
    with pytest.raises(WriteRefused):
        store.commit(writes)  # without a place to note refusals, it raises
    refused: dict[str, str] = {}
    assert store.commit(writes, refused) == ({good}, set())
    assert refused.keys() == {long_id, huge}
    assert all(reason for reason in refused.values())
    assert store.read_profiles([good, long_id, huge]).keys() == {good}


def test_feedback_moves_the_profile_version(store: LeadStore) -> None:
    key = lead(13)
    stored = profile(key)
    commit(store, write(key, stored))
    assert store.record_feedback(key, FeedbackRecord("accepted", T0 + 1, "fit", "called"))
    assert store.record_feedback(key, FeedbackRecord("won", T0 + 2))
    after = store.read_profiles([key])[key]
    assert (after.feedback, after.feedback_at, after.version) == ("won", T0 + 2, 3)
    assert (after.profile, after.email) == (stored.profile, stored.email)
    # A writer holding the profile from before the feedback must read it again.
    assert commit(store, write(key, stored)) == (set(), {key})
    assert commit(store, write(key, after)) == ({key}, set())
    assert [(f.outcome, f.at, f.model, f.note) for f in store.lead_log(key).feedback] == [
        ("accepted", T0 + 1, "fit", "called"),
        ("won", T0 + 2, None, None),
    ]


def test_feedback_on_an_unknown_lead_is_refused(store: LeadStore) -> None:
    key = lead(14)
    assert store.record_feedback(key, FeedbackRecord("won", T0)) is False
    commit(store, write(key, state(key)))  # a state alone is not a known lead
    assert store.record_feedback(key, FeedbackRecord("won", T0)) is False
    assert store.lead_log(key).feedback == []


# -- each store's own ----------------------------------------------------------------------


def test_dynamo_items_keep_the_table_layout(aws: None) -> None:
    """Keys, index keys and attributes as docs/design/table.md has them (existing data)."""
    store = DynamoLeadStore()
    key = lead(3)
    due, idle = state(key, due_at=T0), state(key, "other")
    due.pending = {"lead.mql:fit:1": notification(1)}
    commit(store, write(key, profile(key), due, idle, change(key, T0, "000000002#engagement")))
    commit(store, write(key, change(key, T0, "decay")), write(key, account()))
    store.record_feedback(key, FeedbackRecord("won", T0 + 1))
    client = boto3.client("dynamodb")
    table = os.environ["TABLE_NAME"]
    items = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"LEAD#{key}"}},
    )["Items"]
    by_sk = {item["sk"]["S"]: item for item in items}
    assert set(by_sk) == {
        "PROFILE",
        "STATE#fit",
        "STATE#other",
        f"CH#{T0:011d}#fit#000000002#engagement",
        f"CH#{T0:011d}#fit#decay",
        next(sk for sk in by_sk if sk.startswith(f"FEEDBACK#{T0 + 1:011d}#")),
    }
    profile_item, due_item, idle_item = by_sk["PROFILE"], by_sk["STATE#fit"], by_sk["STATE#other"]
    assert (profile_item["kind"]["S"], profile_item["model_pk"]["S"]) == ("profile", "*#03")
    assert profile_item["account"]["S"] == "acme.example"
    assert profile_item["feedback"]["S"] == "won" and profile_item["version"]["N"] == "2"
    assert "model_pk" not in due_item and due_item["due_pk"]["S"] == "DUE#03"  # profiles only
    assert due_item["due_at"]["N"] == str(T0)
    assert json.loads(due_item["pending"]["M"]["lead.mql:fit:1"]["S"]) == notification(1).to_dict()
    assert "due_pk" not in idle_item and "due_at" not in idle_item
    account_item = client.get_item(
        TableName=table, Key={"pk": {"S": "ACCOUNT#acme.example"}, "sk": {"S": "STATE#fit"}}
    )["Item"]
    assert account_item["kind"]["S"] == "account" and "account" not in account_item


def test_memory_faults_are_injected_before_a_transaction() -> None:
    store = MemoryLeadStore()
    a, b = lead(1, 1), lead(1, 2)
    store.before_commit = lambda chunk: {b}  # b's transaction meets a conflict
    big = [change(b, T0 + i) for i in range(99)]
    assert store.commit([write(a, profile(a)), write(b, profile(b), *big)]) == ({a}, {b})
    assert store.read_profiles([a, b]).keys() == {a}

    def fail(chunk: list[LeadWrite]) -> None:
        raise TimeoutError("throttled")

    store.before_commit = fail
    with pytest.raises(TimeoutError):
        store.commit([write(b, profile(b))])
    assert store.read_profiles([b]) == {}


# -- sales lists ---------------------------------------------------------------------------


def listed(key: str, n: int, model: str = "fit", **what: Any) -> StateRecord:
    """A state with what the lists show: score `n`00, activity and an MQL's times."""
    record = state(key, model, score=n * 100)
    record.state.fit, record.state.engagement = n * 50, n * 50
    record.state.grade, record.state.level = what.get("grade", "B"), what.get("level", 2)
    record.state.last_activity_at = what.get("activity", T0 + n)
    if what.get("mql"):
        record.state.status, record.state.mql_since = "mql", T0 + n
        record.state.sla_due_at = what.get("due", T0 + 1_000 - n)
    record.email, record.name, record.company = f"p{n}@acme.example", f"Person {n}", "Acme"
    record.owner = what.get("owner")
    return record


def every_page(
    store: LeadStore, sort: str, filters: ListFilters | None = None, limit: int = 3
) -> list[LeadRow]:
    filters = filters or ListFilters()
    rows: list[LeadRow] = []
    cursor: Any = None
    while True:
        page = store.list_leads("fit", sort, filters, limit, json.loads(json.dumps(cursor)))
        assert len(page.rows) <= limit
        rows += page.rows
        cursor = page.cursor
        if cursor is None:
            return rows


def test_lists_page_through_leads_in_each_order(store: LeadStore) -> None:
    records = {}
    for n in range(10):
        key = lead(n % 16, n)
        records[key] = listed(key, n, mql=n % 3 == 0, **({"due": T0 + 500} if n == 9 else {}))
        if n == 6:
            records[key].state.sla_due_at = None  # an MQL without a deadline: queued last
        commit(store, write(key, records[key], state(key, "other", score=9_000)))

    by_score = every_page(store, "-score")
    assert [r.score for r in by_score] == [n * 100 for n in range(9, -1, -1)]
    assert by_score[0] == lead_row(records[lead(9, 9)])
    assert by_score[0].name == "Person 9" and by_score[0].account == "acme.example"
    activity = every_page(store, "-last_activity_at")
    assert [r.last_activity_at for r in activity] == [T0 + n for n in range(9, -1, -1)]
    queue = every_page(store, "sla_due_at", limit=2)
    assert [(r.email, r.sla_due_at) for r in queue] == [
        ("p9@acme.example", T0 + 500),
        ("p3@acme.example", T0 + 997),
        ("p0@acme.example", T0 + 1_000),
        ("p6@acme.example", None),
    ]
    recent = every_page(store, "-mql_since")
    assert [r.mql_since for r in recent] == [T0 + 9, T0 + 6, T0 + 3, T0]


def test_lists_filter_by_status_rating_grade_and_owner(store: LeadStore) -> None:
    for n in range(12):
        key = lead(n % 16, n)
        owner = "ann@seller.example" if n % 2 else None
        commit(store, write(key, listed(key, n, mql=n % 4 == 0, grade="AB"[n % 2], owner=owner)))

    def emails(sort: str, **filters: Any) -> list[str | None]:
        return [r.email for r in every_page(store, sort, ListFilters(**filters), limit=2)]

    assert emails("-score", status="mql") == [
        "p8@acme.example",
        "p4@acme.example",
        "p0@acme.example",
    ]
    assert emails("-score", owner="ann@seller.example") == [
        f"p{n}@acme.example" for n in (11, 9, 7, 5, 3, 1)
    ]
    assert emails("-last_activity_at", grade="A", ratings=("A2",)) == [
        f"p{n}@acme.example" for n in (10, 8, 6, 4, 2, 0)
    ]
    assert emails("-score", ratings=("B1", "C2")) == []
    assert emails("sla_due_at", status="open") == []  # the queue holds MQLs only
    assert emails("sla_due_at", status="mql", grade="A") == [
        f"p{n}@acme.example" for n in (8, 4, 0)
    ]


def test_a_state_leaves_the_queue_when_it_cools(store: LeadStore) -> None:
    key = lead(2, 1)
    record = listed(key, 5, mql=True)
    commit(store, write(key, record))
    assert [r.key for r in every_page(store, "sla_due_at")] == [key]
    record.state.status, record.state.mql_since, record.state.sla_due_at = "open", None, None
    commit(store, write(key, record))
    assert every_page(store, "sla_due_at") == []
    assert every_page(store, "-mql_since") == []
    assert [r.status for r in every_page(store, "-score")] == ["open"]


def test_lists_page_through_accounts_by_score(store: LeadStore) -> None:
    for n in range(7):
        domain = f"co{n}.example"
        stored = account(domain)
        status = "mqa" if n >= 5 else "open"
        stored.state = {"status": status, "score": n * 1000, "rating": f"{'DCBA'[n % 4]}2"}
        if status == "mqa":
            stored.state["mqa_since"] = T0 + n
        commit(store, write(lead(0, n), stored))
    commit(store, write(lead(0, 9), account("other.example", "other")))

    def domains(**filters: Any) -> list[tuple[str, int, str | None]]:
        rows: list[AccountRow] = []
        cursor: Any = None
        while True:
            page = store.list_accounts("fit", "-score", ListFilters(**filters), 2, cursor)
            rows += page.rows
            cursor = json.loads(json.dumps(page.cursor))
            if cursor is None:
                return [(r.domain, r.score, r.status) for r in rows]

    assert domains() == [(f"co{n}.example", n * 1000, "mqa" if n >= 5 else "open") for n in
                         range(6, -1, -1)]  # fmt: skip
    assert domains(status="mqa") == [("co6.example", 6000, "mqa"), ("co5.example", 5000, "mqa")]
    assert domains(grade="A") == [("co3.example", 3000, "open")]
    top = store.list_accounts("fit", "-score", ListFilters(), 1, None).rows[0]
    assert (top.rating, top.grade, top.mqa_since) == ("B2", "B", T0 + 6)


def test_dynamo_state_items_carry_the_list_keys(aws: None) -> None:
    store = DynamoLeadStore()
    mql, idle = lead(5, 1), lead(6, 2)
    commit(store, write(mql, listed(mql, 7, mql=True)), write(idle, listed(idle, 3)))
    client = boto3.client("dynamodb")
    table = os.environ["TABLE_NAME"]

    def item(key: str) -> dict[str, Any]:
        answer = client.get_item(
            TableName=table, Key={"pk": {"S": f"LEAD#{key}"}, "sk": {"S": "STATE#fit"}}
        )
        return dict(answer["Item"])

    hot, cold = item(mql), item(idle)
    assert hot["list_pk"]["S"] == f"LEAD#fit#{list_shard_of(mql):02d}"
    assert hot["mql_pk"]["S"] == f"fit#{list_shard_of(mql):02d}"
    assert (hot["score"]["N"], hot["rating"]["S"], hot["name"]["S"]) == ("700", "B2", "Person 7")
    assert "mql_pk" not in cold and "sla_due_at" not in cold
