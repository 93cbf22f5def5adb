"""The scoring pipeline against moto: exactly once, concurrency, poison records, alerts."""

from __future__ import annotations

import json
import random
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from leadscore.adapters import model_store
from leadscore.adapters.dynamo import LeadTable, StateItem, lead_key, lead_pk, state_sk
from leadscore.domain import engine
from leadscore.domain.events import Event
from leadscore.domain.messages import encode
from leadscore.domain.state import LeadState
from leadscore.services.scoring import score_messages
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, LambdaContext, Recorder, Topic, load_function

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
PAGES = ["/pricing", "/blog/post-1", "/product/x", "/careers", "/demo", "/", "/blog/post-2"]
TYPES = ["page_view"] * 6 + [
    "email_open",
    "email_click",
    "download",
    "webinar_attended",
    "demo_request",
]


@pytest.fixture
def models(aws: None) -> model_store.CachedModels:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), NOW)
    return model_store.CachedModels(ttl=60)


def make_events(count: int, leads: int, seed: int = 1) -> list[tuple[str, Event]]:
    rng = random.Random(seed)
    events = []
    for n in range(count):
        lead = rng.randrange(leads)
        kind = rng.choice(TYPES)
        properties: dict[str, Any] = {}
        if kind == "page_view":
            properties["url"] = "https://vendor.example" + rng.choice(PAGES)
        elif kind.startswith("email"):
            properties["campaign"] = f"c{rng.randrange(5)}"
        elif kind == "download":
            properties["asset"] = f"a{rng.randrange(3)}"
        profile = None
        if rng.random() < 0.05:
            profile = {
                "first_name": "Ann",
                "job_title": rng.choice(["VP Sales", "Engineer", "Intern"]),
            }
        at = NOW - timedelta(days=rng.uniform(0, 20))
        events.append(
            (
                f"lead{lead}@corp{lead % 7}.example",
                Event(f"ev-{n}", kind, at, None, properties, profile),
            )
        )
    return events


def serial_replay(events: list[tuple[str, Event]], model: Any) -> dict[str, LeadState]:
    """What the pipeline must end with: each lead's events applied once, in one call."""
    by_lead: dict[str, list[Event]] = defaultdict(list)
    for email, event in events:
        by_lead[email].append(event)
    states = {}
    for email, lead_events in by_lead.items():
        profile: dict[str, Any] = {"email": email}
        times: dict[str, float] = {}
        for event in sorted(lead_events, key=lambda e: e.occurred_at):
            for name, value in (event.profile or {}).items():
                if event.occurred_at.timestamp() >= times.get(name, 0):
                    profile[name], times[name] = value, event.occurred_at.timestamp()
        states[email] = engine.score(model, None, profile, lead_events, NOW).state
    return states


def stored_state(email: str) -> LeadState:
    item = StateItem.get(lead_pk(lead_key(email)), state_sk("default"), consistent_read=True)
    return LeadState.from_dict(item.state)


def comparable(state: LeadState) -> dict[str, Any]:
    """Everything that must not depend on how deliveries were grouped. The MQL status is
    excluded: between the reset level and the threshold it depends on the path (hysteresis),
    which `assert_status_consistent` checks instead."""
    document = state.to_dict()
    for name in ("recent_ids", "status", "mql_since", "sla_due_at", "sla_breached"):
        document.pop(name)
    return document


def _diff(actual: LeadState, expected: LeadState) -> str:
    a, b = comparable(actual), comparable(expected)
    lines = []
    for name in a:
        if a[name] != b[name] and isinstance(a[name], dict):
            lines += [
                f"{name}.{k}: {a[name].get(k)} != {b[name].get(k)}"
                for k in sorted(set(a[name]) | set(b[name]))
                if a[name].get(k) != b[name].get(k)
            ]
        elif a[name] != b[name]:
            lines.append(f"{name}: {a[name]} != {b[name]}")
    return "\n".join(lines)


def assert_status_consistent(state: LeadState) -> None:
    if state.score >= 6000:
        assert state.status == "mql"
    elif state.score < 4500:
        assert state.status == "open"


class SimulatedQueue:
    """At-least-once delivery: failed messages come back until they succeed."""

    def __init__(self, bodies: list[tuple[str, str]], rng: random.Random) -> None:
        self.waiting = list(bodies)
        rng.shuffle(self.waiting)

    def drain(self, score: Any, batch_size: int = 10, max_rounds: int = 10_000) -> int:
        for deliveries in range(max_rounds):
            if not self.waiting:
                return deliveries
            batch, self.waiting = self.waiting[:batch_size], self.waiting[batch_size:]
            failed = score(batch).failed
            self.waiting += [m for m in batch if m[0] in failed]
        raise AssertionError("the queue never drained")


def inject_throttling(rate: float, rng: random.Random) -> Any:
    """Make `rate` of DynamoDB write requests fail as throttled (after botocore's retries)."""
    client = LeadTable._get_connection().connection.client

    def maybe_throttle(**kwargs: Any) -> None:
        if rng.random() < rate:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "injected"}},
                "TransactWriteItems",
            )

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", maybe_throttle)
    client.meta.events.register("before-call.dynamodb.UpdateItem", maybe_throttle)
    return lambda: (
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", maybe_throttle),
        client.meta.events.unregister("before-call.dynamodb.UpdateItem", maybe_throttle),
    )


def test_exactly_once_with_duplicates_shuffling_and_throttling(
    models: model_store.CachedModels,
) -> None:
    rng = random.Random(7)
    events = make_events(2000, 50)
    bodies = []
    for n, (email, event) in enumerate(events):
        body = next(encode([(email, event)], NOW))
        bodies.append((f"m{n}", body))
        if rng.random() < 0.3:
            bodies.append((f"m{n}-again", body))  # the same event delivered twice
    recorder = Recorder()
    stop = inject_throttling(0.10, rng)
    try:
        deliveries = SimulatedQueue(bodies, rng).drain(
            lambda batch: score_messages(batch, models, recorder, clock=lambda: NOW)
        )
    finally:
        stop()
    assert deliveries > len(bodies) / 10  # some batches were retried after throttling
    expected = serial_replay(events, models.current()[0])
    for email, state in expected.items():
        assert comparable(stored_state(email)) == comparable(state), _diff(
            stored_state(email), state
        )
        assert_status_consistent(stored_state(email))
        # Every point is explained by the event log: deltas add up to the stored score.
        logged = LeadTable.query(lead_pk(lead_key(email)), LeadTable.sk.startswith("EV#"))
        changes = LeadTable.query(lead_pk(lead_key(email)), LeadTable.sk.startswith("CH#"))
        total = sum(
            round(d["points"] * 100)
            for item in [*logged, *changes]
            for d in item.deltas.get("default", [])
        )
        assert total == state.score, email
    # Every crossing was announced once: MQL alerts minus cooled alerts = leads now MQL.
    kinds = [n.kind for n in {n.id: n for n in recorder.sent}.values()]
    now_mql = sum(stored_state(email).status == "mql" for email in expected)
    assert kinds.count("lead.mql") - kinds.count("lead.cooled") == now_mql


def test_parallel_batches_on_hot_leads_lose_no_update(models: model_store.CachedModels) -> None:
    events = make_events(400, 5, seed=3)
    bodies = [(f"m{n}", next(encode([pair], NOW))) for n, pair in enumerate(events)]
    queue = list(bodies)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    batch = [queue.pop() for _ in range(min(10, len(queue)))]
                failed = score_messages(batch, models, Recorder(), clock=lambda: NOW).failed
                with lock:
                    queue.extend(m for m in batch if m[0] in failed)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    for email, state in serial_replay(events, models.current()[0]).items():
        assert comparable(stored_state(email)) == comparable(state), email
        assert_status_consistent(stored_state(email))


def test_poison_record_fails_alone(models: model_store.CachedModels, topic: Topic) -> None:
    app = load_function("scorer")
    events = make_events(9, 9, seed=5)
    records = [
        {
            "messageId": f"m{n}",
            "body": next(encode([pair], NOW)),
            "receiptHandle": "r",
            "attributes": {},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
        }
        for n, pair in enumerate(events)
    ]
    records.insert(
        4, {**records[0], "messageId": "poison", "body": '{"v": 1, "events": "not a list"}'}
    )
    response = app.lambda_handler({"Records": records}, LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    for email, _ in events:
        assert stored_state(email).reasons  # the nine others were scored


def test_mql_alert_published_once_with_contract_shape(
    models: model_store.CachedModels, topic: Topic
) -> None:
    app = load_function("scorer")
    email = "jane.doe@acme-corp.example"
    profile = {
        "first_name": "Jane",
        "last_name": "Doe",
        "company": "Acme",
        "job_title": "VP Marketing",
        "industry": "Software",
        "company_size": "201-500",
        "country": "US",
    }
    steps = [
        Event(
            "p1",
            "page_view",
            NOW - timedelta(hours=3),
            None,
            {"url": "https://v.example/pricing"},
            profile,
        ),
        Event(
            "p2", "page_view", NOW - timedelta(hours=2), None, {"url": "https://v.example/pricing/"}
        ),
        Event("d1", "demo_request", NOW - timedelta(hours=1)),
        Event("d2", "page_view", NOW, None, {"url": "https://v.example/pricing"}),
    ]
    for n, event in enumerate(steps):
        record = {
            "messageId": f"m{n}",
            "body": next(encode([(email, event)], NOW)),
            "receiptHandle": "r",
        }
        app.lambda_handler({"Records": [record, record]}, LambdaContext())  # delivered twice
    received = topic.received()
    assert len(received) == 1, [m["Subject"] for m in received]
    message = received[0]
    assert message["Subject"].startswith("New MQL: A")
    assert len(message["Subject"]) <= 100
    attributes = {k: v["Value"] for k, v in message["MessageAttributes"].items()}
    document = json.loads(message["Message"])
    assert attributes == {
        "kind": "lead.mql",
        "model": "default",
        "rating": document["rating"],
        "grade": document["grade"],
    }
    assert {
        "kind",
        "email",
        "name",
        "company",
        "model",
        "score",
        "fit",
        "engagement",
        "grade",
        "engagement_level",
        "rating",
        "reasons",
        "sla_due_at",
    } <= set(document)
    assert document["email"] == email and document["name"] == "Jane Doe" and document["score"] >= 60
    assert document["sla_due_at"] is not None
    assert any(r["rule"] == "engagement.demo_request" for r in document["reasons"])


def test_email_body_is_plain_text_for_mail_clients(
    models: model_store.CachedModels, topic: Topic
) -> None:
    import boto3

    sns = boto3.client("sns")
    published: list[dict[str, Any]] = []
    original = sns.publish
    from leadscore.adapters.sns import SnsPublisher

    publisher = SnsPublisher(sns, topic.arn)
    sns.publish = lambda **kwargs: published.append(kwargs) or original(**kwargs)  # type: ignore[method-assign]
    email = "vp@bigco.example"
    profile = {
        "first_name": "Vic",
        "job_title": "CEO",
        "industry": "saas",
        "company_size": 900,
        "country": "US",
    }
    events = [
        Event("x1", "demo_request", NOW, None, {}, profile),
        Event("x2", "meeting_booked", NOW),
    ]
    score_messages(
        [("m", next(encode([(email, e) for e in events], NOW)))],
        models,
        publisher,
        clock=lambda: NOW,
    )
    assert len(published) == 1
    assert published[0]["MessageStructure"] == "json"
    bodies = json.loads(published[0]["Message"])
    assert set(bodies) == {"default", "email"}
    assert "Follow up by:" in bodies["email"] and "Why:" in bodies["email"]
    assert json.loads(bodies["default"])["kind"] == "lead.mql"


def test_publish_failure_is_retried_not_lost(models: model_store.CachedModels) -> None:
    class Flaky(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.fail = True

        def publish(self, notification: Any) -> None:
            if self.fail:
                raise RuntimeError("SNS down")
            super().publish(notification)

    publisher = Flaky()
    email = "ceo@bigco.example"
    profile = {
        "first_name": "Ceo",
        "job_title": "CEO",
        "industry": "saas",
        "company_size": 900,
        "country": "US",
    }
    body = next(
        encode(
            [
                (email, Event("y1", "demo_request", NOW, None, {}, profile)),
                (email, Event("y2", "meeting_booked", NOW)),
            ],
            NOW,
        )
    )
    first = score_messages([("m", body)], models, publisher, clock=lambda: NOW)
    assert first.failed == {"m"} and not publisher.sent
    item = StateItem.get(lead_pk(lead_key(email)), state_sk("default"))
    assert len(item.pending.as_dict()) == 1  # recorded durably before publishing
    publisher.fail = False
    second = score_messages([("m", body)], models, publisher, clock=lambda: NOW)  # SQS redelivers
    assert not second.failed and second.stats.duplicates == 2
    assert [n.kind for n in publisher.sent] == ["lead.mql"]
    item = StateItem.get(lead_pk(lead_key(email)), state_sk("default"))
    assert item.pending.as_dict() == {}


def test_new_model_version_applies_after_cache_ttl(aws: None) -> None:
    clock = [0.0]
    model = load_model(ROOT / "models" / "default.yaml")
    model_store.publish(model, NOW)
    cache = model_store.CachedModels(ttl=60, clock=lambda: clock[0])
    assert cache.current()[0].version == 1
    model_store.publish(model, NOW)
    clock[0] = 59
    assert cache.current()[0].version == 1
    clock[0] = 60
    assert cache.current()[0].version == 2
