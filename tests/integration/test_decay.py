"""The decay job end to end on moto: the DynamoDB store's due index, its cursor through a
Lambda payload, the items it reads, and the handler publishing to SNS. The job's behaviour
(concurrent writers, erasure, faults, stale index copies) is tested on the in-memory store
in tests/unit/test_decay_service.py; the scenarios both stores run are in decay_helpers.py."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from leadscore.adapters import model_store
from leadscore.adapters.dynamo import LeadTable, StateItem, lead_pk, state_sk
from leadscore.adapters.dynamo_records import account_record
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.services.decay import run_decay
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, LambdaContext, Recorder, Topic, load_function, table_items
from tests.helpers.profiles import ENGINEER, VP
from tests.unit.decay_helpers import (
    AT,
    activity,
    assert_breach_recorded,
    check_deadline_resumes_without_skipping_or_decaying_twice,
    check_due_leads_decay_and_a_replay_changes_nothing,
    hot,
    people_of_leads,
    score,
    score_activity,
    score_overdue_mqls,
)
from tests.unit.scoring_helpers import explained_points, stored_record, stored_state


@pytest.fixture
def models(aws: None) -> model_store.CachedModels:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), AT - timedelta(days=400))
    return model_store.CachedModels(ttl=3600)


@pytest.fixture
def store(aws: None) -> DynamoLeadStore:
    return DynamoLeadStore()


class ReadCounter:
    """DynamoDB requests and items read, from botocore's after-call events; BatchGetItem's
    items also by kind (`state`: a lead's state; `lead`: its profile; `account`)."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.scanned = 0

    def __call__(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests[model.name] += 1
        if model.name in ("Query", "Scan"):
            self.items[model.name] += parsed.get("Count", 0)
            self.scanned += parsed.get("ScannedCount", 0)
        elif model.name == "BatchGetItem":
            for items in parsed.get("Responses", {}).values():
                self.items[model.name] += len(items)
                for item in items:
                    self.kinds[_kind(item["pk"]["S"], item["sk"]["S"])] += 1
        elif model.name == "GetItem":
            self.items[model.name] += "Item" in parsed

    def clear(self) -> None:
        self.requests.clear()
        self.items.clear()
        self.kinds.clear()
        self.scanned = 0


def _kind(pk: str, sk: str) -> str:
    if pk.startswith("ACCOUNT#"):
        return "account"
    return "state" if sk.startswith("STATE#") else "lead"


@pytest.fixture
def reads(store: DynamoLeadStore) -> Iterator[ReadCounter]:
    # The store reads items through the item classes' connection, and queries the keys-only
    # `due_keys` index (and writes its transactions) through its own.
    clients = [LeadTable._get_connection().connection.client, store.connection.client]
    counter = ReadCounter()
    for client in clients:
        client.meta.events.register("after-call.dynamodb", counter)
    yield counter
    for client in clients:
        client.meta.events.unregister("after-call.dynamodb", counter)


def test_due_leads_decay_history_adds_up_and_a_replay_changes_nothing(
    store: DynamoLeadStore,
    models: model_store.CachedModels,
) -> None:
    check_due_leads_decay_and_a_replay_changes_nothing(store, models, table_items)


def test_states_written_before_they_named_their_account(
    store: DynamoLeadStore,
    models: model_store.CachedModels,
) -> None:
    """Their profile names the account; the decay writes it on the state for next time."""
    from leadscore.adapters.dynamo import AccountItem, account_pk

    emails = [f"old{n}@legacy.example" for n in range(3)]
    score_activity(store, models, emails, AT - timedelta(days=50))
    for email in emails:
        item = StateItem.get(lead_pk(lead_key(email)), state_sk("default"), consistent_read=True)
        item.update(actions=[StateItem.account_domain.remove()], add_version_condition=False)
        assert stored_record(store, email).account_domain is None
    account = AccountItem.get(account_pk("legacy.example"), state_sk("default"))

    outcome = run_decay(AT, store, models, Recorder())
    assert outcome.stats.decayed == len(emails)
    after = AccountItem.get(account_pk("legacy.example"), state_sk("default"))
    assert after.version > account.version  # once per page that held one of them
    assert account_record(after).people == people_of_leads(store, models, emails)
    assert {stored_record(store, email).account_domain for email in emails} == {"legacy.example"}


@pytest.fixture
def no_table_backups(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto deep-copies the whole table for every item of a transaction (its rollback
    backup), which makes thousands of leads quadratic. For a test where no transaction
    fails, skip the backup; item copies stay real."""
    import copy
    import types

    from moto.dynamodb import models as moto_models

    def deepcopy(value: Any, *args: Any) -> Any:
        if isinstance(value, moto_models.Table):
            return value
        return copy.deepcopy(value, *args)

    monkeypatch.setattr(moto_models, "copy", types.SimpleNamespace(deepcopy=deepcopy))


def test_run_reads_only_due_items(
    store: DynamoLeadStore,
    models: model_store.CachedModels,
    reads: ReadCounter,
    no_table_backups: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """B2B data: a company has several leads; a few due leads need their profile (a
    notification, a passed follow-up deadline), most do not; some use personal addresses."""
    total = 2000
    companies = 50
    idle = [f"idle{n}@corp{n % companies}.example" for n in range(150)]
    personal = [f"idle{n}@gmail.com" for n in range(10)]
    overdue = [f"mql{n}@corp{n % companies}.example" for n in range(20)]  # SLA passes
    cooling = [f"cool{n}@corp{(n + 20) % companies}.example" for n in range(20)]
    recent = [f"lead{n}@corp{n % 97}.example" for n in range(total - 200)]  # not due
    due = len(idle) + len(personal) + len(overdue) + len(cooling)
    groups: list[tuple[list[str], Callable[..., list[Event]], datetime, dict[str, Any] | None]] = [
        (idle + personal, activity, AT - timedelta(days=50), None),
        (overdue, hot, AT - timedelta(days=2), VP),
        (cooling, hot, AT - timedelta(days=120), ENGINEER),
        (recent, activity, AT - timedelta(days=3), None),
    ]
    for emails, events, when, profile in groups:
        for start in range(0, len(emails), 100):
            chunk = emails[start : start + 100]
            pairs = [(email, e) for email in chunk for e in events(email, when, profile)]
            score(store, models, pairs, when)
    models.current()  # the model catalog is cached before counting
    reads.clear()

    started = time.perf_counter()
    recorder = Recorder()
    outcome = run_decay(AT, store, models, recorder)
    elapsed = time.perf_counter() - started
    stats = outcome.stats
    assert outcome.complete and stats.conflicts_retried == 0
    assert stats.found == due and stats.decayed == due - len(overdue)
    assert stats.sla_breached == len(overdue) and stats.cooled == len(cooling)
    assert reads.items["Query"] == due and reads.scanned == due
    assert "Scan" not in reads.requests and "GetItem" not in reads.requests
    # The index gives keys only: each due state is then read once, by key, and no other.
    assert reads.kinds["state"] == due
    # Only the leads notified read their profile (and an account's people, if it cools);
    # each company's account item is read once, personal addresses have none.
    notified = len(overdue) + len(cooling)
    assert notified <= reads.kinds["lead"] <= notified + 20 * stats.accounts_cooled
    assert reads.kinds["account"] <= companies
    # Whole items read: the due states, and at most as many profiles and accounts besides.
    read = reads.items["BatchGetItem"]
    assert read <= 2 * due
    read_requests = {k: n for k, n in reads.requests.items() if k in ("Query", "BatchGetItem")}
    with capsys.disabled():
        print(
            f"\n[decay] {total} leads, {due} due: items read {read} ({read / due:.2f}x due) = "
            f"states {reads.kinds['state']} (index keys {reads.items['Query']}) "
            f"+ leads {reads.kinds['lead']} "
            f"+ accounts {reads.kinds['account']}; read requests {read_requests}; "
            f"{elapsed:.2f}s (moto)"
        )
    for email in idle[::20] + cooling[::5]:
        assert explained_points(store, email) == stored_state(store, email).score
    sent = Counter(recorder.kinds())
    assert sent["lead.cooled"] == len(cooling) and sent["lead.sla_breached"] == len(overdue)


def test_sla_breach_published_once_and_not_after_feedback(
    store: DynamoLeadStore, models: model_store.CachedModels, topic: Topic
) -> None:
    late, answered = "late@acme.example", "answered@acme.example"
    score_overdue_mqls(store, models, late, answered)

    app = load_function("decay")
    response = app.lambda_handler({"time": AT.isoformat()}, LambdaContext())
    assert response["complete"] and response["stats"]["sla_breached"] == 1
    received = topic.received()
    assert [m["MessageAttributes"]["kind"]["Value"] for m in received] == ["lead.sla_breached"]
    assert_breach_recorded(store, late, answered)

    for moment in (AT, AT + timedelta(hours=1)):
        again = app.lambda_handler({"time": moment.isoformat()}, LambdaContext())
        assert again["complete"] and again["stats"]["found"] == 0
    assert topic.received() == []


def test_deadline_resumes_without_skipping_or_decaying_twice(
    store: DynamoLeadStore,
    models: model_store.CachedModels,
) -> None:
    check_deadline_resumes_without_skipping_or_decaying_twice(store, models)
