"""Rescoring after a model change end to end on moto: the route starts a job, the rescore
function drains its queue in SQS, `leadscore rescore` follows it over HTTP, a dry run leaves
the table as it was. The service's rules (replay, counted once, faults) run on the in-memory
stores: tests/unit/test_rescore_service.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from leadscore.adapters import model_store
from leadscore.adapters.dynamo import StateItem, lead_key, lead_pk, state_sk
from leadscore.adapters.dynamo_records import state_record
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.adapters.rescore_queue import SqsRescoreQueue
from leadscore.domain.state import LeadState

from tests.conftest import ROOT, LambdaContext, Topic, load_function, table_items
from tests.integration.api_client import make_api
from tests.unit.rescore_helpers import LEADS, comparable, emails, score_and_publish
from tests.unit.scoring_helpers import explained_points

LEADS_STORE = DynamoLeadStore()


def state(email: str, model_id: str = "default") -> LeadState:
    item = StateItem.get(lead_pk(lead_key(email)), state_sk(model_id), consistent_read=True)
    return state_record(item).state


class Queue:
    """The rescore queue in moto."""

    def __init__(self) -> None:
        import boto3

        self.sqs = boto3.client("sqs")
        self.url = self.sqs.create_queue(QueueName="rescore")["QueueUrl"]
        self.queue = SqsRescoreQueue(self.sqs, self.url)

    def receive(self) -> list[dict[str, Any]]:
        return list(
            self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
        )

    def delete(self, message: dict[str, Any]) -> None:
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def queue(aws: None) -> Queue:
    return Queue()


@pytest.fixture
def scored(aws: None) -> None:
    """The rescore scene in the table: 24 leads scored by `default` v1 and by `fresh` (v2's
    points), then v2 published."""
    score_and_publish(model_store.publish, LEADS_STORE, model_store.CachedModels(ttl=0))


def test_rescore_handler_and_api_route(
    queue: Queue, scored: None, topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESCORE_QUEUE_URL", queue.url)
    api = make_api(
        monkeypatch, LEADSCORE_API_KEY="k", RESCORE_QUEUE_URL=queue.url, MODEL_CACHE_SECONDS="0"
    )
    key = {"x-api-key": "k"}
    assert api.call("POST", "/v1/models/default/rescore").status == 401
    assert queue.receive() == []  # refused: no job, nothing queued
    assert api.call("POST", "/v1/models/nope/rescore", {}, headers=dict(key)).status == 404
    bad = api.call(
        "POST", "/v1/models/default/rescore", {"dry": 1, "notify": "yes"}, headers=dict(key)
    )
    assert bad.status == 422 and {e["field"] for e in bad.json()["errors"]} == {"dry", "notify"}
    leads = table_items("LEAD#")

    started = api.call("POST", "/v1/models/default/rescore", {"dry_run": True}, headers=dict(key))
    assert started.status == 202
    body = started.json()
    assert body["status"] == "queued" and body["dry_run"] and body["model_version"] == 2
    starts_at = datetime.fromisoformat(body["starts_at"].replace("Z", "+00:00"))
    assert starts_at <= datetime.now(UTC)  # the version was published long ago: no wait
    assert started.headers["Location"] == body["progress_url"]
    queued = api.call("GET", body["progress_url"], headers=dict(key)).json()
    assert queued["status"] == "queued" and queued["leads_done"] == 0

    worker = load_function("rescore")
    batches = 0
    while batch := queue.receive():
        event = {"Records": [sqs_record(m) for m in batch]}
        answer = worker.lambda_handler(event, LambdaContext())
        assert answer == {"batchItemFailures": []}
        for message in batch:
            queue.delete(message)
        batches += 1
        if batches == 1:  # progress is readable while the job runs
            running = api.call("GET", body["progress_url"], headers=dict(key)).json()
            assert running["status"] == "running" and running["leads_total"] > 0
    done = api.call("GET", body["progress_url"], headers=dict(key)).json()
    assert done["status"] == "completed" and done["leads_done"] == LEADS
    assert done["changed"] > 0 and table_items("LEAD#") == leads  # a dry run writes nothing
    assert topic.received() == []
    missing = api.call("GET", "/v1/models/default/rescore/nope", headers=dict(key))
    assert missing.status == 404


def test_the_sample_event_runs_through_the_handler(
    queue: Queue, topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESCORE_QUEUE_URL", queue.url)
    event = json.loads(Path(ROOT / "events" / "rescore_sqs.json").read_text())
    worker = load_function("rescore")
    # the job it names does not exist here: its messages are done with, not failed
    assert worker.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    event["Records"][0]["body"] = "not json"
    failures = worker.lambda_handler(event, LambdaContext())["batchItemFailures"]
    assert failures == [{"itemIdentifier": event["Records"][0]["messageId"]}]


def sqs_record(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:rescore",
        "awsRegion": "us-east-1",
    }


def test_the_cli_rescores_through_the_api_handler_over_http(
    queue: Queue,
    scored: None,
    topic: Topic,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`leadscore rescore` against the real API handler on 127.0.0.1, the rescore function
    draining its queue meanwhile, as the local stack's poller does."""
    import threading

    from leadscore_tools.cli import main

    monkeypatch.setenv("RESCORE_QUEUE_URL", queue.url)
    api = make_api(
        monkeypatch, LEADSCORE_API_KEY="k", RESCORE_QUEUE_URL=queue.url, MODEL_CACHE_SECONDS="0"
    )
    worker = load_function("rescore")

    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            batch = queue.receive()
            if not batch:  # waits, as SQS's long polling does, instead of holding the GIL
                stop.wait(0.05)
                continue
            worker.lambda_handler({"Records": [sqs_record(m) for m in batch]}, LambdaContext())
            for message in batch:
                queue.delete(message)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        with api.serve() as url:
            status = main(
                ["rescore", "default", "--interval", "0.05", "--api-url", url, "--api-key", "k"]
            )
            out, err = capsys.readouterr()
            assert status == 0, err
            # stdout also carries the function's metrics (EMF lines): the summary is the
            # indented one
            summary, _end = json.JSONDecoder().raw_decode(out, out.index('{\n  "'))
            assert summary["status"] == "completed" and summary["leads_done"] == LEADS
            assert f"{LEADS}/{LEADS} leads 100%" in err
            status = main(["lead", emails()[0], "--api-url", url, "--api-key", "k"])
            out, _ = capsys.readouterr()
            assert status == 0
            lead, _end = json.JSONDecoder().raw_decode(out, out.index('{\n  "'))
            assert lead["scores"][0]["model_version"] == 2
    finally:
        stop.set()
        poller.join()
    for email in emails():  # rebuilt in the table as the live `fresh` scored it all along
        after = state(email)
        assert after.model_version == 2
        assert comparable(after) == comparable(state(email, "fresh"))
        assert explained_points(LEADS_STORE, email) == after.score
