"""The scoring pipeline end to end on moto: the handler, the DynamoDB store, SNS.

The scorer's behaviour under duplicates, concurrency, faults and redelivery is tested
against the in-memory store (tests/unit/test_scoring_service.py); here a smaller set
checks that it holds on the real table's conditions and transactions."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from leadscore.adapters import model_store
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.messages import encode
from leadscore.services.notification_log import log_day
from leadscore.services.scoring import score_messages
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, LambdaContext, Recorder, Topic, load_function, sqs_record
from tests.helpers.profiles import VP
from tests.unit.scoring_helpers import (
    NOW,
    SimulatedQueue,
    assert_scored_once,
    bodies_of,
    delivered_twice,
    distinct_kinds,
    make_events,
    score_in_parallel,
    stored_state,
)


@pytest.fixture
def models(aws: None) -> model_store.CachedModels:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), NOW)
    return model_store.CachedModels(ttl=60)


def throttle_transactions(store: DynamoLeadStore, rate: float, rng: random.Random) -> Any:
    """Make `rate` of the store's transactions fail as throttled (after botocore's retries)."""
    client = store.connection.client  # the store's own client: where AWS would throttle

    def maybe_throttle(**kwargs: Any) -> None:
        if rng.random() < rate:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "injected"}},
                "TransactWriteItems",
            )

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", maybe_throttle)
    return lambda: client.meta.events.unregister(
        "before-call.dynamodb.TransactWriteItems", maybe_throttle
    )


def test_exactly_once_with_duplicates_shuffling_and_throttling(
    models: model_store.CachedModels,
) -> None:
    rng = random.Random(7)
    events = make_events(300, 15)
    bodies = delivered_twice(bodies_of(events), 0.3, rng)
    store = DynamoLeadStore()
    recorder = Recorder()
    stop = throttle_transactions(store, 0.15, rng)
    try:
        deliveries = SimulatedQueue(bodies, rng).drain(
            lambda batch: score_messages(batch, store, models, recorder, clock=lambda: NOW)
        )
    finally:
        stop()
    assert deliveries > len(bodies) / 10  # some batches were redelivered after throttling
    assert_scored_once(store, events, distinct_kinds(recorder.sent))


def test_parallel_batches_on_hot_leads_lose_no_update(models: model_store.CachedModels) -> None:
    events = make_events(150, 3, seed=3)
    store = DynamoLeadStore()
    score_in_parallel(
        bodies_of(events),
        lambda batch: score_messages(batch, store, models, Recorder(), clock=lambda: NOW),
        workers=6,
    )
    assert_scored_once(store, events)


def test_poison_record_goes_alone_to_the_dlq_with_its_reason(
    models: model_store.CachedModels, topic: Topic
) -> None:
    app = load_function("scorer")
    events = make_events(9, 9, seed=5)
    records = [sqs_record(message_id, body) for message_id, body in bodies_of(events)]
    poison = '{"v": 1, "events": "not a list"}'
    records.insert(4, sqs_record("poison", poison))
    response = app.lambda_handler({"Records": records}, LambdaContext())
    assert response == {"batchItemFailures": []}  # not retried: it would never score
    assert topic.dead_letters() == [(poison, "unreadable: missing received_at or events")]
    for email, _ in events:
        assert stored_state(app.store, email).reasons  # the nine others were scored


def test_mql_alert_published_once_with_contract_shape(
    models: model_store.CachedModels, topic: Topic
) -> None:
    app = load_function("scorer")
    email = "jane.doe@acme-corp.example"
    steps = [
        Event(
            "p1",
            "page_view",
            NOW - timedelta(hours=3),
            None,
            {"url": "https://v.example/pricing"},
            VP,
        ),
        Event(
            "p2", "page_view", NOW - timedelta(hours=2), None, {"url": "https://v.example/pricing/"}
        ),
        Event("d1", "demo_request", NOW - timedelta(hours=1)),
        Event("d2", "page_view", NOW, None, {"url": "https://v.example/pricing"}),
    ]
    for message_id, body in bodies_of([(email, event) for event in steps]):
        record = sqs_record(message_id, body)
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
        DynamoLeadStore(),
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


def test_a_mixed_batch_loses_nothing_valid_on_the_real_table(
    models: model_store.CachedModels, topic: Topic
) -> None:
    """A scanner's 150 clicks for one lead, an event with a 1,100-character id beside a valid
    event in one message, and ordinary leads, in one batch of the handler."""
    app = load_function("scorer")
    hot = "scanned@corp1.example"
    clicks = [
        (hot, Event(f"click-{n}", "email_click", NOW - timedelta(minutes=n), None, {"n": n}))
        for n in range(150)
    ]
    others = make_events(30, 6, seed=21)
    received = int(NOW.timestamp())
    mixed = json.dumps(
        {
            "v": 1,
            "received_at": received,
            "events": [
                {"id": "ok-1", "email": "neighbour@corp3.example", "type": "demo_request"},
                {"id": "x" * 1_100, "email": "x@corp4.example", "type": "page_view"},
            ],
        }
    )
    records = [
        sqs_record("hot", next(encode(clicks, NOW))),
        *[sqs_record(message_id, body) for message_id, body in bodies_of(others)],
        sqs_record("mixed", mixed),
    ]

    response = app.lambda_handler({"Records": records}, LambdaContext())

    assert response == {"batchItemFailures": []}
    [(body, reason)] = topic.dead_letters()
    assert [e["id"] for e in json.loads(body)["events"]] == ["x" * 1_100]
    assert reason.startswith("unreadable: events[1].id")
    logged = {
        email: {r.event.id for r in app.store.lead_log(lead_key(email)).events}
        for email in {email for email, _ in others + clicks} | {"neighbour@corp3.example"}
    }
    assert logged[hot] == {event.id for _, event in clicks}
    assert logged["neighbour@corp3.example"] == {"ok-1"}
    for email, event in others:
        assert event.id in logged[email]
    assert app.store.lead_log(lead_key("x@corp4.example")).profile is None


def test_a_lead_of_many_events_becoming_an_mql_is_written_on_the_real_table(
    models: model_store.CachedModels,
) -> None:
    """130 page views and a demo request of one new lead: its events, its MQL's log entry
    and pointer, and its account's record take two transactions of at most 100 items (this
    batch once failed on every delivery)."""
    email, url = "vp@corp.example", {"url": "https://vendor.example/pricing"}
    events = [
        (email, Event(f"pv-{n}", "page_view", NOW - timedelta(minutes=200 - n), None, url, VP))
        for n in range(130)
    ]
    events.append((email, Event("demo", "demo_request", NOW, None, {}, VP)))
    store, recorder = DynamoLeadStore(), Recorder()

    outcome = score_messages(bodies_of(events), store, models, recorder, clock=lambda: NOW)

    assert not outcome.failed and not outcome.dead_letters
    assert (outcome.stats.events_scored, outcome.stats.mqls) == (131, 1)
    assert [n.kind for n in recorder.sent] == ["lead.mql"]
    [entry] = store.notification_log(log_day(int(NOW.timestamp())), 10, None)
    assert (entry.email, entry.sent_at is not None) == (email, True)
    assert_scored_once(store, events)
