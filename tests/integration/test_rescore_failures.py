"""A rescore step that fails for good: on its last receive it is marked on the job, which then
says `incomplete` instead of running forever; redriven from the DLQ, it completes the job,
nothing counted twice. Driven through the rescore function against moto's queue and DLQ."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from leadscore.adapters.dynamo_rescore_jobs import DynamoRescoreJobs
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.adapters.rescore_queue import SqsRescoreQueue
from leadscore.domain.emails import lead_key
from leadscore.services import rescore
from leadscore.services.rescore_jobs import JobCounts, JobOptions, RescoreJob
from leadscore.services.rescore_progress import progress
from leadscore.services.store import SHARDS, shard_of
from leadscore_tools.template import load_template

from tests.conftest import LambdaContext, Recorder, Topic, load_function
from tests.integration import test_rescore
from tests.integration.test_rescore import (
    AT,
    CATALOG,
    JOBS,
    LEADS,
    LEADS_STORE,
    emails,
    sqs_record,
)

queue, scored = test_rescore.queue, test_rescore.scored  # its fixtures, requested by name

RESOURCES = load_template()["Resources"]
MAX_RECEIVES = int(RESOURCES["RescoreQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"])
COUNTED = ("leads_total", "leads_done", "changed", "rating_changes", "new_mqls", "lost_mqls")


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
    """Reading one lead fails (`left` times, or until `on` is set False)."""

    def __init__(self, email: str, left: int | None = None) -> None:
        super().__init__()
        self.target, self.on, self.left, self.raised = lead_key(email), True, left, 0

    def lead_log(self, key: str) -> Any:
        if key == self.target and self.on and (self.left is None or self.left > 0):
            if self.left is not None:
                self.left -= 1
            self.raised += 1
            raise RuntimeError("DynamoDB is unavailable")
        return super().lead_log(key)


def failing_lead(
    worker: Any, monkeypatch: pytest.MonkeyPatch, email: str, times: int | None = None
) -> FailingLead:
    """The rescore function's store, with one lead that cannot be read."""
    fault = FailingLead(email, times)
    monkeypatch.setattr(worker.rescorer, "store", fault)
    return fault


def test_the_template_tells_the_worker_the_rescore_queues_max_receive_count() -> None:
    variables = RESOURCES["RescoreFunction"]["Properties"]["Environment"]["Variables"]
    assert int(variables["RESCORE_MAX_RECEIVE_COUNT"]) == MAX_RECEIVES


@pytest.mark.usefixtures("scored")
def test_a_chunk_in_the_dlq_makes_the_job_incomplete_and_its_redrive_completes_it(
    redriven: RedrivenQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = load_function("rescore")
    expected = dry_run(redriven, worker)
    fault = failing_lead(worker, monkeypatch, emails()[3])

    job_id = start(redriven)
    redriven.run(worker)

    assert fault.raised == MAX_RECEIVES  # every receive SQS allows, then the DLQ
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


@pytest.mark.usefixtures("scored")
def test_a_listing_page_in_the_dlq_makes_the_job_incomplete_until_redriven(
    redriven: RedrivenQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = load_function("rescore")
    expected = dry_run(redriven, worker)
    broken_shard = shard_of(lead_key(emails()[0]))
    fault = {"on": True}

    class FailingShard(DynamoLeadStore):
        def lead_keys(self, shard: int, limit: int, cursor: Any) -> Any:
            if shard == broken_shard and fault["on"]:
                raise RuntimeError("DynamoDB is unavailable")
            return super().lead_keys(shard, limit, cursor)

    monkeypatch.setattr(worker.rescorer, "store", FailingShard())
    job_id = start(redriven)
    redriven.run(worker)

    stuck = read(job_id)
    missing = sum(shard_of(lead_key(e)) == broken_shard for e in emails())
    assert stuck["status"] == "incomplete" and not stuck["listing_complete"]
    assert stuck["failed_pages"] == 1 and stuck["failed_chunks"] == 0
    assert stuck["leads_total"] == stuck["leads_done"] == LEADS - missing

    fault["on"] = False
    redriven.redrive(redriven.dead())
    redriven.run(worker)

    done = read(job_id)
    assert done["status"] == "completed" and done["failed_pages"] == 0
    assert {n: done[n] for n in COUNTED} == {n: expected[n] for n in COUNTED}


@pytest.mark.usefixtures("scored")
def test_a_step_that_succeeds_before_its_last_receive_is_never_marked_failed(
    redriven: RedrivenQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = load_function("rescore")
    fault = failing_lead(worker, monkeypatch, emails()[3], times=MAX_RECEIVES - 1)
    job_id = start(redriven)
    seen: list[tuple[str, int]] = []

    def look() -> None:
        now = read(job_id)
        seen.append((now["status"], now["failed_chunks"]))

    redriven.run(worker, after_each=look)

    assert fault.raised == MAX_RECEIVES - 1
    assert {failed for _, failed in seen} == {0}
    assert {status for status, _ in seen} <= {"running", "completed"}
    done = read(job_id)
    assert done["status"] == "completed" and done["leads_done"] == LEADS
    assert redriven.dead() == []


class CrashingAfterCounting(DynamoRescoreJobs):
    """The job store of a worker that times out once, right after counting a step."""

    crashed = False

    def count_step(self, *args: Any, **kwargs: Any) -> bool:
        counted = super().count_step(*args, **kwargs)
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("the Lambda timed out after counting")
        return counted


@pytest.mark.usefixtures("scored")
def test_a_step_that_fails_after_it_was_counted_is_not_marked_failed(
    redriven: RedrivenQueue,
) -> None:
    """Its counts are in (the step is done): failing it would leave the job incomplete forever."""
    job_id = start(redriven)
    jobs = CrashingAfterCounting()
    rescorer = rescore.Rescorer(
        redriven.queue, Recorder(), jobs, LEADS_STORE, CATALOG, max_receives=MAX_RECEIVES
    )
    while batch := redriven._receive(redriven.url):
        for message in batch:
            with contextlib.suppress(RuntimeError):  # every message on its last receive
                rescorer.handle(message["Body"], receive_count=MAX_RECEIVES)
            redriven.delete(redriven.url, message)

    assert jobs.crashed
    done = read(job_id)
    assert done["failed_chunks"] == done["failed_pages"] == 0
    assert done["status"] == "completed" and done["leads_done"] == LEADS


def job_with(failed_steps: frozenset[str] = frozenset(), **counters: int) -> RescoreJob:
    return RescoreJob(
        model_id="default",
        model_version=1,
        job_id="j",
        options=JobOptions(),
        at=0,
        created_at=0,
        starts_at=0,
        shards=SHARDS,
        counts=JobCounts(**counters),
        failed_steps=failed_steps,
    )


def test_the_job_says_running_until_every_other_step_is_done_then_incomplete() -> None:
    failed = frozenset({"CHUNK#00-000000-000"})
    running = job_with(shards_listed=SHARDS, chunks_listed=5, chunks_done=3, failed_steps=failed)
    assert progress(running, {})["status"] == "running"
    assert progress(running, {})["failed_chunks"] == 1
    settled = job_with(shards_listed=SHARDS, chunks_listed=5, chunks_done=4, failed_steps=failed)
    assert progress(settled, {})["status"] == "incomplete"
    shard_stopped = job_with(
        shards_listed=SHARDS - 1,
        chunks_listed=5,
        chunks_done=5,
        failed_steps=frozenset({"LIST#03#000000"}),
    )
    assert progress(shard_stopped, {})["status"] == "incomplete"
    assert (
        progress(job_with(shards_listed=SHARDS, chunks_listed=5, chunks_done=5), {})["status"]
        == "completed"
    )
