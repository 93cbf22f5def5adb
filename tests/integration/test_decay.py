"""The decay job end to end on moto: the DynamoDB store's due index, its cursor through a
Lambda payload, the items it reads, and the handler publishing to SNS. The job's behaviour
(concurrent writers, erasure, faults, stale index copies) is tested on the in-memory store
in tests/unit/test_decay_service.py."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from leadscore.adapters import model_store
from leadscore.adapters.dynamo import LeadTable, StateItem, lead_pk, state_sk
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.messages import encode
from leadscore.domain.state import LeadState
from leadscore.services.decay import run_decay
from leadscore.services.scoring import score_messages
from leadscore.services.store import FeedbackRecord
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, LambdaContext, Recorder, Topic, load_function

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


@pytest.fixture
def models(aws: None) -> model_store.CachedModels:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), AT - timedelta(days=400))
    return model_store.CachedModels(ttl=3600)


@pytest.fixture
def store(aws: None) -> DynamoLeadStore:
    return DynamoLeadStore()


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
    store: DynamoLeadStore,
    models: model_store.CachedModels,
    pairs: list[tuple[str, Event]],
    now: datetime,
) -> None:
    """Score (email, event) pairs as the scorer would have at `now`."""
    bodies = [(f"m{n}", body) for n, body in enumerate(encode(pairs, now))]
    outcome = score_messages(bodies, store, models, Recorder(), clock=lambda: now)
    assert not outcome.failed


def state_of(email: str) -> StateItem:
    return StateItem.get(lead_pk(lead_key(email)), state_sk("default"), consistent_read=True)


def lead_state(email: str) -> LeadState:
    return LeadState.from_dict(state_of(email).state)


def history_total(email: str) -> int:
    pk = lead_pk(lead_key(email))
    items = [
        *LeadTable.query(pk, LeadTable.sk.startswith("EV#"), consistent_read=True),
        *LeadTable.query(pk, LeadTable.sk.startswith("CH#"), consistent_read=True),
    ]
    return sum(round(d["points"] * 100) for i in items for d in i.deltas.get("default", []))


def decay_records(email: str) -> list[Any]:
    pk = lead_pk(lead_key(email))
    return [
        item
        for item in LeadTable.query(pk, LeadTable.sk.startswith("CH#"), consistent_read=True)
        if item.sk.endswith("#decay")
    ]


def table_dump() -> dict[tuple[str, str], dict[str, Any]]:
    client = boto3.client("dynamodb")
    items: dict[tuple[str, str], dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"TableName": LeadTable.Meta.table_name, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            items[(item["pk"]["S"], item["sk"]["S"])] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class ReadCounter:
    """DynamoDB requests and items read, from botocore's after-call events; BatchGetItem's
    items also by kind (`lead`: a lead's profile or state; `account`: an account item)."""

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
                    self.kinds["account" if item["pk"]["S"].startswith("ACCOUNT#") else "lead"] += 1
        elif model.name == "GetItem":
            self.items[model.name] += "Item" in parsed

    def clear(self) -> None:
        self.requests.clear()
        self.items.clear()
        self.kinds.clear()
        self.scanned = 0


@pytest.fixture
def reads() -> Iterator[ReadCounter]:
    # The store reads through the item classes' connection (its transactions use its own).
    client = LeadTable._get_connection().connection.client
    counter = ReadCounter()
    client.meta.events.register("after-call.dynamodb", counter)
    yield counter
    client.meta.events.unregister("after-call.dynamodb", counter)


def test_due_leads_decay_history_adds_up_and_a_replay_changes_nothing(
    store: DynamoLeadStore,
    models: model_store.CachedModels,
) -> None:
    idle = [f"idle{n}@corp{n}.example" for n in range(6)]
    recent = [f"recent{n}@corp{n}.example" for n in range(3)]
    for n, email in enumerate(idle):
        when = AT - timedelta(days=45 + 10 * n)
        score(store, models, [(email, e) for e in activity(f"i{n}", when)], when)
    for n, email in enumerate(recent):
        when = AT - timedelta(days=5)
        score(store, models, [(email, e) for e in activity(f"r{n}", when)], when)
    before = {email: lead_state(email) for email in idle + recent}

    recorder = Recorder()
    outcome = run_decay(AT, store, models, recorder)
    assert outcome.complete and outcome.cursor is None
    assert outcome.stats.found == len(idle) and outcome.stats.decayed == len(idle)
    for email in idle:
        state = lead_state(email)
        assert state.decay_factor < 1 and state.score < before[email].score, email
        assert history_total(email) == state.score, email
        assert len(decay_records(email)) == 1
        item = state_of(email)
        assert item.due_at is not None and item.due_at > AT.timestamp()  # next period
    for email in recent:
        assert lead_state(email) == before[email]
        assert not decay_records(email)

    snapshot = table_dump()
    again = run_decay(AT, store, models, recorder)
    assert again.complete and again.stats.found == 0 and again.stats.decayed == 0
    assert table_dump() == snapshot
    # A replay for an earlier instant finds nothing due either: decay is never undone.
    earlier = run_decay(AT - timedelta(days=3), store, models, recorder)
    assert earlier.stats.decayed == 0 and table_dump() == snapshot

    # A week later the idle leads decay one more period; the history still adds up.
    later = run_decay(AT + timedelta(days=7), store, models, recorder)
    assert later.stats.decayed == len(idle)
    for email in idle:
        assert history_total(email) == lead_state(email).score
        assert len(decay_records(email)) == 2
    assert recorder.sent == []


def test_states_written_before_they_named_their_account(
    store: DynamoLeadStore,
    models: model_store.CachedModels,
) -> None:
    """Their profile names the account; the decay writes it on the state for next time."""
    from leadscore.adapters.dynamo import AccountItem, account_pk
    from leadscore.domain import accounts

    emails = [f"old{n}@legacy.example" for n in range(3)]
    when = AT - timedelta(days=50)
    score(store, models, [(email, e) for email in emails for e in activity(email, when)], when)
    for email in emails:
        state_of(email).update(
            actions=[StateItem.account_domain.remove()], add_version_condition=False
        )
        assert state_of(email).account_domain is None
    account = AccountItem.get(account_pk("legacy.example"), state_sk("default"))

    outcome = run_decay(AT, store, models, Recorder())
    assert outcome.stats.decayed == len(emails)
    config = models.current()[0].model.account
    assert config is not None
    after = AccountItem.get(account_pk("legacy.example"), state_sk("default"))
    assert after.version > account.version  # once per page that held one of them
    assert after.people == {
        lead_key(email): accounts.person_from_state(
            config, lead_key(email), lead_state(email)
        ).to_list()
        for email in emails
    }
    assert {state_of(email).account_domain for email in emails} == {"legacy.example"}


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
    engineer = {"job_title": "Engineer", "country": "US", "company_size": 50}
    groups: list[tuple[list[str], Callable[..., list[Event]], datetime, dict[str, Any] | None]] = [
        (idle + personal, activity, AT - timedelta(days=50), None),
        (overdue, hot, AT - timedelta(days=2), VP),
        (cooling, hot, AT - timedelta(days=120), engineer),
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
    # Only the leads notified read their profile (and an account's people, if it cools);
    # each company's account item is read once, personal addresses have none.
    notified = len(overdue) + len(cooling)
    assert notified <= reads.kinds["lead"] <= notified + 20 * stats.accounts_cooled
    assert reads.kinds["account"] <= companies
    read = reads.items["Query"] + reads.items["BatchGetItem"]
    assert read <= 2 * due
    read_requests = {k: n for k, n in reads.requests.items() if k in ("Query", "BatchGetItem")}
    with capsys.disabled():
        print(
            f"\n[decay] {total} leads, {due} due: items read {read} ({read / due:.2f}x due) = "
            f"index {reads.items['Query']} + leads {reads.kinds['lead']} "
            f"+ accounts {reads.kinds['account']}; read requests {read_requests}; "
            f"{elapsed:.2f}s (moto)"
        )
    for email in idle[::20] + cooling[::5]:
        assert history_total(email) == lead_state(email).score
    sent = Counter(recorder.kinds())
    assert sent["lead.cooled"] == len(cooling) and sent["lead.sla_breached"] == len(overdue)


def test_sla_breach_published_once_and_not_after_feedback(
    store: DynamoLeadStore, models: model_store.CachedModels, topic: Topic
) -> None:
    late, answered = "late@acme.example", "answered@acme.example"
    when = AT - timedelta(days=2)
    for email in (late, answered):
        score(store, models, [(email, e) for e in hot(email[:4], when, VP)], when)
        state = lead_state(email)
        assert state.status == "mql" and state.sla_due_at is not None
        assert state.sla_due_at <= AT.timestamp()
    mql_since = lead_state(answered).mql_since
    assert mql_since is not None
    feedback = FeedbackRecord("accepted", mql_since + 60, "default")
    assert store.record_feedback(lead_key(answered), feedback)

    app = load_function("decay")
    response = app.lambda_handler({"time": AT.isoformat()}, LambdaContext())
    assert response["complete"] and response["stats"]["sla_breached"] == 1
    received = topic.received()
    assert [m["MessageAttributes"]["kind"]["Value"] for m in received] == ["lead.sla_breached"]
    assert lead_state(late).sla_breached and not lead_state(answered).sla_breached
    assert state_of(late).pending.as_dict() == {}
    for email in (late, answered):  # neither is due again before decay starts
        item = state_of(email)
        assert item.due_at is not None and item.due_at > AT.timestamp()
        assert lead_state(email).decay_factor == 1.0

    for moment in (AT, AT + timedelta(hours=1)):
        again = app.lambda_handler({"time": moment.isoformat()}, LambdaContext())
        assert again["complete"] and again["stats"]["found"] == 0
    assert topic.received() == []


def test_deadline_resumes_without_skipping_or_decaying_twice(
    store: DynamoLeadStore,
    models: model_store.CachedModels,
) -> None:
    emails = [f"slow{n}@corp{n}.example" for n in range(40)]
    when = AT - timedelta(days=50)
    score(store, models, [(email, e) for email in emails for e in activity(email, when)], when)
    expected_factor = lead_state(emails[0]).decay_factor
    assert expected_factor == 1.0

    def budget(pages: int) -> Callable[[], float]:
        calls = {"n": 0}

        def left() -> float:
            calls["n"] += 1
            return 1.0 if calls["n"] < pages else 0.0

        return left

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
        assert len(decay_records(email)) == 1, email
        assert lead_state(email).decay_factor == pytest.approx(0.81)  # two 7-day periods
        assert history_total(email) == lead_state(email).score
    assert run_decay(AT, store, models, Recorder()).stats.found == 0
