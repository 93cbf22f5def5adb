"""Shared fixtures: fake AWS credentials, moto, and the table created from template.yaml."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    TABLE_NAME="leadscore-test",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_METRICS_NAMESPACE="LeadScoreTest",
    POWERTOOLS_SERVICE_NAME="leadscore",
    POWERTOOLS_LOG_LEVEL="WARNING",
)
os.environ.pop("AWS_ENDPOINT_URL", None)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"  # the reference material beside the project, when present


@pytest.fixture(autouse=True)
def fresh_process_state() -> Iterator[None]:
    """What a Lambda container keeps between invocations does not leak between tests: the
    settings (read again from the environment the test sets) and Powertools' metrics, whose
    set is shared by every `Metrics` of a namespace (Powertools' testing advice)."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics.provider import cold_start
    from leadscore.settings import settings

    settings.cache_clear()
    yield
    settings.cache_clear()
    metrics = Metrics()
    metrics.clear_metrics()
    metrics.clear_default_dimensions()
    cold_start.is_cold_start = True


@contextmanager
def moto_table() -> Iterator[None]:
    """moto for every AWS call inside, with the leads table of template.yaml."""
    import boto3
    from leadscore_tools import moto_atomic
    from leadscore_tools.template import table_definition, ttl_attribute
    from moto import mock_aws

    moto_atomic.install()
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(TableName=os.environ["TABLE_NAME"], **table_definition())
        client.update_time_to_live(
            TableName=os.environ["TABLE_NAME"],
            TimeToLiveSpecification={"AttributeName": ttl_attribute(), "Enabled": True},
        )
        yield


@pytest.fixture
def aws() -> Iterator[None]:
    """moto for every AWS call of the test, with the leads table of template.yaml."""
    with moto_table():
        yield


def item_text(item: dict[str, Any]) -> str:
    """A raw item as JSON text with its compressed attributes inflated, to search it for
    what it names (a Binary value is the compressed JSON of adapters/compressed.py)."""
    from leadscore.adapters.compressed import decode

    def readable(value: Any) -> Any:
        return decode(value) if isinstance(value, bytes) else str(value)

    return json.dumps(item, default=readable)


def table_items(pk_prefix: str = "") -> dict[tuple[str, str], dict[str, Any]]:
    """The leads table's items whose key starts with `pk_prefix`, by (pk, sk), read
    consistently: a snapshot to compare before and after a run."""
    import boto3

    client = boto3.client("dynamodb")
    items: dict[tuple[str, str], dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"TableName": os.environ["TABLE_NAME"], "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            if item["pk"]["S"].startswith(pk_prefix):
                items[(item["pk"]["S"], item["sk"]["S"])] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass
class Topic:
    """The sales SNS topic with an SQS queue subscribed, to read what was published; and the
    scoring queue's DLQ, which the scorer needs too."""

    arn: str
    queue_url: str
    sqs: Any
    dead_letter_url: str = ""

    def dead_letters(self) -> list[tuple[str, str]]:
        """(body, reason) of each message in the scoring DLQ."""
        answer = self.sqs.receive_message(
            QueueUrl=self.dead_letter_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        return [
            (m["Body"], m["MessageAttributes"]["reason"]["StringValue"])
            for m in answer.get("Messages", [])
        ]

    def received(self) -> list[dict[str, Any]]:
        import json

        messages = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return messages
            for message in batch:
                messages.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def topic(aws: None, monkeypatch: pytest.MonkeyPatch) -> Topic:
    import boto3

    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    arn = sns.create_topic(Name="sales")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="sales-outbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("TOPIC_ARN", arn)
    dead_letter_url = sqs.create_queue(QueueName="scoring-dlq")["QueueUrl"]
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dead_letter_url)
    return Topic(arn, queue_url, sqs, dead_letter_url)


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py fresh, inside the current moto context."""
    from leadscore.settings import settings

    settings.cache_clear()  # functions read their settings at import
    module_name = f"function_{name}"
    sys.modules.pop(module_name, None)
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def sqs_record(message_id: str, body: str) -> dict[str, Any]:
    """One record of an SQS event, as Lambda hands a queue message to a handler."""
    return {
        "messageId": message_id,
        "body": body,
        "receiptHandle": "r",
        "attributes": {},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
    }


@dataclass
class Recorder:
    """A publisher that keeps what it is given (services take any `publish(notification)`)."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def publish(self, notification: Any) -> None:
        self.sent.append(notification)

    def kinds(self) -> list[str]:
        return [n.kind for n in self.sent]


class LambdaContext:
    function_name: str = "test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id: str = "request-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class FakeSlack:
    """A Slack incoming webhook on 127.0.0.1 (`url`): answers the queued `statuses`, then 200,
    with `error_body` for the refusals and `retry_after` seconds on a 429; records every body.
    Use it in a `with` block."""

    def __init__(
        self, statuses: list[int] | None = None, error_body: bytes = b"error", retry_after: int = 0
    ) -> None:
        self.statuses = list(statuses or [])
        self.bodies: list[dict[str, Any]] = []
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                state.bodies.append(json.loads(self.rfile.read(length)))
                status = state.statuses.pop(0) if state.statuses else 200
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", str(retry_after))
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else error_body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T/B/X"

    def __enter__(self) -> FakeSlack:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
