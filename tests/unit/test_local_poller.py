"""The local SQS poller behaves like Lambda's event source mapping (against moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from leadscore_tools.local.poller import SqsPoller
from leadscore_tools.template import Queue, SqsSource


class Handler:
    """Fails the records whose body says so; or raises when `crash` is set."""

    name = "ScorerFunction"

    def __init__(self, crash: bool = False) -> None:
        self.crash = crash
        self.events: list[dict[str, Any]] = []

    def available(self) -> bool:
        return True

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        if self.crash:
            raise RuntimeError("the handler crashed")
        failed = [r["messageId"] for r in event["Records"] if r["body"] == "fail"]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}


@pytest.fixture
def sqs() -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def make_queue(sqs: Any, max_receive: int = 2) -> Queue:
    dlq_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}
    url = sqs.create_queue(
        QueueName="work",
        Attributes={"VisibilityTimeout": "360", "RedrivePolicy": json.dumps(policy)},
    )["QueueUrl"]
    arn = "arn:aws:sqs:us-east-1:123456789012:work"
    return Queue("Work", "work", url, arn, 360, "Dlq", max_receive, False)


def poller(sqs: Any, handler: Handler, queue: Queue, report: bool = True) -> SqsPoller:
    source = SqsSource("ScorerFunction", "Work", 10, 0.0, report, True)
    return SqsPoller(source, queue, handler, sqs, "us-east-1", retry_seconds=0)  # type: ignore[arg-type]


def counts(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def run_once(p: SqsPoller) -> None:
    batch = p._gather()
    if batch:
        p._deliver(batch)


def test_records_are_lambda_shaped_and_successes_deleted(sqs: Any) -> None:
    queue = make_queue(sqs)
    sqs.send_message(
        QueueUrl=queue.url,
        MessageBody="ok",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "form"}},
    )
    handler = Handler()
    run_once(poller(sqs, handler, queue))
    [record] = handler.events[0]["Records"]
    assert record["body"] == "ok" and record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue.arn and record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "form"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert record["md5OfBody"] and record["receiptHandle"] and record["messageId"]
    assert counts(sqs, queue.url) == 0


def test_only_reported_failures_are_retried_then_moved_to_the_dlq(sqs: Any) -> None:
    queue = make_queue(sqs, max_receive=2)
    for body in ("ok", "fail", "ok"):
        sqs.send_message(QueueUrl=queue.url, MessageBody=body)
    handler = Handler()
    p = poller(sqs, handler, queue)
    run_once(p)
    assert sorted(r["body"] for r in handler.events[0]["Records"]) == ["fail", "ok", "ok"]
    assert counts(sqs, queue.url) == 1  # the failed one, visible again
    run_once(p)  # second receive: fails again
    assert [r["attributes"]["ApproximateReceiveCount"] for r in handler.events[1]["Records"]] == [
        "2"
    ]
    run_once(p)  # past maxReceiveCount: moto's redrive moves it instead of delivering it
    assert len(handler.events) == 2
    dlq_url = sqs.get_queue_url(QueueName="dlq")["QueueUrl"]
    [moved] = sqs.receive_message(QueueUrl=dlq_url)["Messages"]
    assert moved["Body"] == "fail"


def test_a_crash_retries_the_whole_batch(sqs: Any) -> None:
    queue = make_queue(sqs, max_receive=5)
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=queue.url, MessageBody=body)
    run_once(poller(sqs, Handler(crash=True), queue))
    assert counts(sqs, queue.url) == 2


def test_without_report_batch_item_failures_a_reported_failure_is_ignored(sqs: Any) -> None:
    queue = make_queue(sqs)
    sqs.send_message(QueueUrl=queue.url, MessageBody="fail")
    run_once(poller(sqs, Handler(), queue, report=False))
    assert counts(sqs, queue.url) == 0  # the invocation succeeded: Lambda deletes the batch
