"""Scheduled decay and follow-up deadlines against moto: due items only, once, resumable."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from leadscore.adapters import lead_store, model_store
from leadscore.adapters.dynamo import LeadTable, ProfileItem, StateItem, lead_key, lead_pk, state_sk
from leadscore.domain.events import Event
from leadscore.domain.state import LeadState
from leadscore.services.decay import run_decay
from leadscore.services.messages import encode
from leadscore.services.scoring import score_messages
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, LambdaContext, Topic, load_function

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


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def publish(self, notification: Any) -> None:
        self.sent.append(notification)

    def kinds(self) -> list[str]:
        return [n.kind for n in self.sent]


@pytest.fixture
def models(aws: None) -> model_store.CachedModels:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), AT - timedelta(days=400))
    return model_store.CachedModels(ttl=3600)


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


def score(models: model_store.CachedModels, pairs: list[tuple[str, Event]], now: datetime) -> None:
    """Score (email, event) pairs as the scorer would have at `now`."""
    bodies = [(f"m{n}", body) for n, body in enumerate(encode(pairs, now))]
    outcome = score_messages(bodies, models, Recorder(), clock=lambda: now)
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
    client = LeadTable._get_connection().connection.client
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
    """DynamoDB requests and items read, from botocore's after-call events."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        self.scanned = 0

    def __call__(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests[model.name] += 1
        if model.name in ("Query", "Scan"):
            self.items[model.name] += parsed.get("Count", 0)
            self.scanned += parsed.get("ScannedCount", 0)
        elif model.name == "BatchGetItem":
            self.items[model.name] += sum(len(v) for v in parsed.get("Responses", {}).values())
        elif model.name == "GetItem":
            self.items[model.name] += "Item" in parsed


@pytest.fixture
def reads() -> Iterator[ReadCounter]:
    client = LeadTable._get_connection().connection.client
    counter = ReadCounter()
    client.meta.events.register("after-call.dynamodb", counter)
    yield counter
    client.meta.events.unregister("after-call.dynamodb", counter)


def test_due_leads_decay_history_adds_up_and_a_replay_changes_nothing(
    models: model_store.CachedModels,
) -> None:
    idle = [f"idle{n}@corp{n}.example" for n in range(6)]
    recent = [f"recent{n}@corp{n}.example" for n in range(3)]
    for n, email in enumerate(idle):
        when = AT - timedelta(days=45 + 10 * n)
        score(models, [(email, e) for e in activity(f"i{n}", when)], when)
    for n, email in enumerate(recent):
        when = AT - timedelta(days=5)
        score(models, [(email, e) for e in activity(f"r{n}", when)], when)
    before = {email: lead_state(email) for email in idle + recent}

    recorder = Recorder()
    outcome = run_decay(AT, models, recorder, deadline=None)
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
    again = run_decay(AT, models, recorder, deadline=None)
    assert again.complete and again.stats.found == 0 and again.stats.decayed == 0
    assert table_dump() == snapshot
    # A replay for an earlier instant finds nothing due either: decay is never undone.
    earlier = run_decay(AT - timedelta(days=3), models, recorder, deadline=None)
    assert earlier.stats.decayed == 0 and table_dump() == snapshot

    # A week later the idle leads decay one more period; the history still adds up.
    later = run_decay(AT + timedelta(days=7), models, recorder, deadline=None)
    assert later.stats.decayed == len(idle)
    for email in idle:
        assert history_total(email) == lead_state(email).score
        assert len(decay_records(email)) == 2
    assert recorder.sent == []


def test_lead_active_since_it_was_found_is_not_decayed(
    models: model_store.CachedModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    woke, stays, raced = "woke@corp.example", "stays@corp.example", "raced@corp.example"
    old = AT - timedelta(days=60)
    for email in (woke, stays, raced):
        score(models, [(email, e) for e in activity(email[:4], old)], old)
    fresh = AT - timedelta(hours=1)

    real_read, real_commit = lead_store.read_leads, lead_store.commit
    done = {"read": False, "commit": False}

    def read_after_activity(*args: Any, **kwargs: Any) -> Any:
        # `woke` acts between the index query and the re-read
        if not done["read"] and lead_key(woke) in args[0]:
            done["read"] = True
            score(models, [(woke, Event("w-new", "demo_request", fresh))], fresh)
        return real_read(*args, **kwargs)

    def commit_after_activity(*args: Any, **kwargs: Any) -> Any:
        # `raced` acts between the re-read and the write
        if not done["commit"] and any(w.key == lead_key(raced) for w in args[0]):
            done["commit"] = True
            score(models, [(raced, Event("x-new", "demo_request", fresh))], fresh)
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(lead_store, "read_leads", read_after_activity)
    monkeypatch.setattr(lead_store, "commit", commit_after_activity)
    outcome = run_decay(AT, models, Recorder(), deadline=None)
    assert done == {"read": True, "commit": True}
    assert outcome.stats.found == 3 and outcome.stats.conflicts_retried >= 1
    assert outcome.stats.decayed == 1 and outcome.stats.gave_up == 0
    for email in (woke, raced):
        state = lead_state(email)
        assert state.decay_factor == 1.0 and state.last_activity_at == int(fresh.timestamp())
        assert "engagement.demo_request" in state.reasons
        assert not decay_records(email)
        assert history_total(email) == state.score
    assert lead_state(stays).decay_factor < 1
    assert history_total(stays) == lead_state(stays).score


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
    models: model_store.CachedModels,
    reads: ReadCounter,
    no_table_backups: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    total, due = 2000, 200
    idle_at, recent_at = AT - timedelta(days=50), AT - timedelta(days=3)
    emails = [f"lead{n}@corp{n % 97}.example" for n in range(total)]
    for start in range(0, total, 100):
        chunk = emails[start : start + 100]
        when = idle_at if start < due else recent_at
        pairs = [(email, e) for email in chunk for e in activity(email, when)]
        score(models, pairs, when)
    models.current()  # the model catalog is cached before counting
    reads.requests.clear()
    reads.items.clear()
    reads.scanned = 0

    started = time.perf_counter()
    outcome = run_decay(AT, models, Recorder(), deadline=None)
    elapsed = time.perf_counter() - started
    assert outcome.complete and outcome.stats.conflicts_retried == 0
    assert outcome.stats.found == due and outcome.stats.decayed == due
    assert reads.items["Query"] == due and reads.scanned == due
    assert "Scan" not in reads.requests and "GetItem" not in reads.requests
    # The re-read: each due lead's profile and state (no erasure markers exist).
    assert reads.items["BatchGetItem"] == 2 * due
    with capsys.disabled():
        print(
            f"\n[decay] {total} leads, {due} due: items read query={reads.items['Query']} "
            f"batch_get={reads.items['BatchGetItem']}; requests {dict(reads.requests)}; "
            f"{elapsed:.2f}s (moto)"
        )
    for email in emails[:due:20]:
        assert history_total(email) == lead_state(email).score


def test_cooled_notification_when_decay_falls_below_reset(
    models: model_store.CachedModels,
) -> None:
    email = "cooling@smallco.example"
    when = AT - timedelta(days=120)  # 12 periods of 10%: engagement 150 -> 42
    profile = {"job_title": "Engineer", "country": "US", "company_size": 50}
    score(models, [(email, e) for e in hot("c", when, profile)], when)
    assert lead_state(email).status == "mql"
    recorder = Recorder()
    outcome = run_decay(AT, models, recorder, deadline=None)
    state = lead_state(email)
    assert state.status == "open" and state.score < 4500
    assert recorder.kinds() == ["lead.cooled"] and outcome.stats.cooled == 1
    assert recorder.sent[0].document["email"] == email
    assert state_of(email).pending.as_dict() == {}
    assert history_total(email) == state.score
    run_decay(AT, models, recorder, deadline=None)
    assert recorder.kinds() == ["lead.cooled"]


def test_sla_breach_published_once_and_not_after_feedback(
    models: model_store.CachedModels, topic: Topic
) -> None:
    late, answered = "late@acme.example", "answered@acme.example"
    when = AT - timedelta(days=2)
    for email in (late, answered):
        score(models, [(email, e) for e in hot(email[:4], when, VP)], when)
        state = lead_state(email)
        assert state.status == "mql" and state.sla_due_at is not None
        assert state.sla_due_at <= AT.timestamp()
    profile = ProfileItem.get(lead_pk(lead_key(answered)), "PROFILE", consistent_read=True)
    mql_since = lead_state(answered).mql_since
    assert mql_since is not None
    profile.update(
        actions=[ProfileItem.feedback.set("accepted"), ProfileItem.feedback_at.set(mql_since + 60)]
    )

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
    models: model_store.CachedModels,
) -> None:
    emails = [f"slow{n}@corp{n}.example" for n in range(40)]
    when = AT - timedelta(days=50)
    score(models, [(email, e) for email in emails for e in activity(email, when)], when)
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
        outcome = run_decay(AT, models, Recorder(), deadline=budget(2), cursor=cursor, page_size=3)
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
    assert run_decay(AT, models, Recorder(), deadline=None).stats.found == 0
