"""A rescore chunk that fails for good, through the rescore function against moto's queue and
its DLQ: SQS's receive count marks it on its last receive (the job says `incomplete`), and its
redrive completes the job, nothing counted twice. The other failure rules run on the in-memory
stores: tests/unit/test_rescore_failures.py."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from leadscore.adapters.dynamo_rescore_jobs import DynamoRescoreJobs
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.adapters.model_store import DynamoModelCatalog
from leadscore.adapters.rescore_queue import SqsRescoreQueue
from leadscore.domain.emails import lead_key
from leadscore.services import rescore
from leadscore.services.rescore_jobs import JobOptions
from leadscore_tools.template import load_template

from tests.conftest import LambdaContext, Topic, load_function
from tests.integration import test_rescore
from tests.integration.test_rescore import LEADS_STORE, sqs_record
from tests.unit.rescore_helpers import AT, COUNTED, LEADS, emails

scored = test_rescore.scored  # its fixture, requested by name

RESOURCES = load_template()["Resources"]
MAX_RECEIVES = int(RESOURCES["RescoreQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"])
JOBS = DynamoRescoreJobs()
CATALOG = DynamoModelCatalog()


class RedrivenQueue:
    """The rescore queue with the template's redrive policy and its DLQ, drained through the
    rescore function as Lambda's event source does: a failed message comes back until SQS
    moves it to the DLQ."""

    def __init__(self) -> None:
        self.sqs: Any = boto3.client("sqs")
        self.dlq_url = self.sqs.create_queue(QueueName="rescore-dlq")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
        self.url = self.sqs.create_queue(
            QueueName="rescore-redriven", Attributes={"RedrivePolicy": json.dumps(policy)}
        )["QueueUrl"]
        self.queue = SqsRescoreQueue(self.sqs, self.url)

    def _receive(self, url: str) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
        )
        return list(answer.get("Messages", []))

    def run(self, worker: Any, after_each: Any = None) -> None:
        while batch := self._receive(self.url):
            records = []
            for message in batch:
                record = sqs_record(message)
                record["attributes"] = dict(message["Attributes"])
                records.append(record)
            try:
                answer = worker.lambda_handler({"Records": records}, LambdaContext())
                failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            except BatchProcessingError:  # every record failed: the invocation fails
                failed = {message["MessageId"] for message in batch}
            for message in batch:
                if message["MessageId"] in failed:  # visible again at once, not in 12 minutes
                    self.sqs.change_message_visibility(
                        QueueUrl=self.url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=0,
                    )
                else:
                    self.delete(self.url, message)
            if after_each is not None:
                after_each()

    def delete(self, url: str, message: dict[str, Any]) -> None:
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def dead(self) -> list[dict[str, Any]]:
        """What is in the DLQ (left invisible: read it once)."""
        found: list[dict[str, Any]] = []
        while batch := self._receive(self.dlq_url):
            found += batch
        return found

    def redrive(self, messages: list[dict[str, Any]], copies: int = 1) -> None:
        """Move messages from the DLQ back to the queue (SQS's redrive); `copies` > 1 also
        delivers them twice, as SQS may."""
        for message in messages:
            for _ in range(copies):
                self.sqs.send_message(QueueUrl=self.url, MessageBody=message["Body"])
            self.delete(self.dlq_url, message)


@pytest.fixture
def redriven(topic: Topic, monkeypatch: pytest.MonkeyPatch) -> RedrivenQueue:
    """The queue, and the sales topic the rescore function requires (TOPIC_ARN)."""
    found = RedrivenQueue()
    monkeypatch.setenv("RESCORE_QUEUE_URL", found.url)
    return found


def start(redriven: RedrivenQueue, options: JobOptions | None = None) -> str:
    job = rescore.start_job(
        "default",
        options or JobOptions(),
        redriven.queue,
        JOBS,
        CATALOG,
        AT + timedelta(hours=1),
    )
    assert job is not None
    return str(job.job_id)


def read(job_id: str) -> dict[str, Any]:
    job = JOBS.read("default", job_id)
    assert job is not None
    return rescore.job_progress(job, LEADS_STORE)


def dry_run(redriven: RedrivenQueue, worker: Any) -> dict[str, Any]:
    job_id = start(redriven, JobOptions(dry_run=True))
    redriven.run(worker)
    result = read(job_id)
    assert result["status"] == "completed" and result["leads_done"] == LEADS
    return result


class FailingLead(DynamoLeadStore):
    """Reading one lead fails, until `on` is set False."""

    def __init__(self, email: str) -> None:
        super().__init__()
        self.target, self.on, self.raised = lead_key(email), True, 0

    def lead_log(self, key: str) -> Any:
        if key == self.target and self.on:
            self.raised += 1
            raise RuntimeError("DynamoDB is unavailable")
        return super().lead_log(key)


@pytest.mark.usefixtures("scored")
def test_a_chunk_in_the_dlq_makes_the_job_incomplete_and_its_redrive_completes_it(
    redriven: RedrivenQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = load_function("rescore")
    expected = dry_run(redriven, worker)
    fault = FailingLead(emails()[3])
    monkeypatch.setattr(worker.rescorer, "store", fault)  # the function's, with the fault
    job_id = start(redriven)
    seen: list[tuple[int, int]] = []

    def look() -> None:
        seen.append((fault.raised, read(job_id)["failed_chunks"]))

    redriven.run(worker, after_each=look)

    assert fault.raised == MAX_RECEIVES  # every receive SQS allows, then the DLQ
    # marked failed on its last receive only: the function reads SQS's receive count
    assert {failed for raised, failed in seen if raised < MAX_RECEIVES} == {0}
    assert seen[-1] == (MAX_RECEIVES, 1)
    dead = redriven.dead()
    assert len(dead) == 1 and "chunk" in json.loads(dead[0]["Body"])
    stuck = read(job_id)
    assert stuck["status"] == "incomplete" and stuck["finished_at"] is None
    assert stuck["failed_chunks"] == 1 and stuck["failed_pages"] == 0
    in_chunk = len(json.loads(dead[0]["Body"])["leads"])
    assert stuck["leads_total"] == LEADS and stuck["leads_done"] == LEADS - in_chunk
    assert stuck["chunks"]["done"] == stuck["chunks"]["listed"] - 1

    # fixed, then redriven, twice over (SQS may deliver a message twice): counted once
    fault.on = False
    redriven.redrive(dead, copies=2)
    redriven.run(worker)

    done = read(job_id)
    assert done["status"] == "completed" and done["finished_at"]
    assert done["failed_chunks"] == 0 and redriven.dead() == []
    assert {n: done[n] for n in COUNTED} == {n: expected[n] for n in COUNTED}
    assert done["chunks"]["done"] == done["chunks"]["listed"]
