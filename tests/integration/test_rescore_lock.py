"""One rescore job per model at a time: a second start while one runs answers 409 naming the
running job, through the service, the HTTP route and `leadscore rescore`; racing starts leave
exactly one job; a finished, incomplete, failed-to-start or expired job frees its model."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from typing import Any

import pytest
from leadscore.adapters.dynamo import LeadTable, RescoreJobItem, RescoreLockItem
from leadscore.adapters.dynamo_rescore_jobs import DynamoRescoreJobs, lock_keys
from leadscore.services import rescore
from leadscore.services.rescore_jobs import LOCK_TTL, JobOptions, JobRunning, RescoreJob
from leadscore.services.store import SHARDS

from tests.conftest import LambdaContext, Recorder, Topic, load_function
from tests.integration import test_rescore
from tests.integration.api_client import Api, make_api
from tests.integration.test_rescore import (
    AT,
    CATALOG,
    JOBS,
    LEADS,
    LEADS_STORE,
    Queue,
    sqs_record,
)

queue, scored = test_rescore.queue, test_rescore.scored  # its fixtures, requested by name
NOW = AT + timedelta(hours=1)
KEY = {"x-api-key": "k"}


def start(queue: Queue, model_id: str = "default", now: Any = NOW) -> RescoreJob:
    job = rescore.start_job(model_id, JobOptions(), queue.queue, JOBS, CATALOG, now)
    assert job is not None
    return job


def jobs_of(model_id: str) -> list[str]:
    return [
        str(item.job_id)
        for item in LeadTable.query(f"MODEL#{model_id}", LeadTable.sk.startswith("RESCORE#"))
        if isinstance(item, RescoreJobItem)
    ]


def status(job_id: str) -> str:
    job = JOBS.read("default", job_id)
    assert job is not None
    return str(rescore.job_progress(job, LEADS_STORE)["status"])


def drain(queue: Queue) -> None:
    queue.drain(
        rescore.Rescorer(
            queue.queue, Recorder(), JOBS, LEADS_STORE, CATALOG, clock=lambda: NOW
        ).handle
    )


@pytest.mark.usefixtures("scored")
def test_starts_racing_on_one_model_leave_exactly_one_job(queue: Queue) -> None:
    racers = 8
    barrier = threading.Barrier(racers)
    started: list[str] = []
    refused: list[str] = []

    def race() -> None:
        barrier.wait()
        try:
            started.append(str(start(queue).job_id))
        except JobRunning as running:
            refused.append(str(running.job.job_id))

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(started) == 1 and len(refused) == racers - 1
    assert set(refused) == set(started)  # every loser names the winner
    assert jobs_of("default") == started
    listing: list[Any] = []
    while batch := queue.receive():
        listing += batch
    assert len(listing) == SHARDS  # one job's listing, not eight


@pytest.mark.usefixtures("scored")
def test_another_model_can_be_rescored_meanwhile(queue: Queue) -> None:
    start(queue)
    assert start(queue, "fresh").model_id == "fresh"


@pytest.mark.usefixtures("scored")
def test_a_finished_job_frees_its_model(queue: Queue) -> None:
    first = start(queue)
    with pytest.raises(JobRunning):
        start(queue)
    drain(queue)
    assert status(first.job_id) == "completed"
    assert start(queue).job_id != first.job_id


@pytest.mark.usefixtures("scored")
def test_an_incomplete_job_frees_its_model(queue: Queue) -> None:
    """A chunk that failed its last receive: the job is over until redriven."""

    class ChunksUnreadable(DynamoRescoreJobs):
        def step(self, job: RescoreJob, step_id: str) -> Any:
            if step_id.startswith("CHUNK#"):
                raise RuntimeError("DynamoDB is unavailable")
            return super().step(job, step_id)

    first = start(queue)
    rescorer = rescore.Rescorer(
        queue.queue,
        Recorder(),
        ChunksUnreadable(),
        LEADS_STORE,
        CATALOG,
        clock=lambda: NOW,
        max_receives=1,
    )
    while batch := queue.receive():
        for message in batch:
            with contextlib.suppress(RuntimeError):  # its last receive: in the DLQ
                rescorer.handle(message["Body"], receive_count=1)
            queue.delete(message)
    assert status(first.job_id) == "incomplete"
    assert start(queue).job_id != first.job_id


@pytest.mark.usefixtures("scored")
def test_a_lock_outlives_its_job_only_until_it_expires(queue: Queue) -> None:
    first = start(queue)  # its messages are never handled: as if the job crashed
    with pytest.raises(JobRunning):
        start(queue, now=NOW + LOCK_TTL - timedelta(seconds=1))
    later = start(queue, now=NOW + LOCK_TTL + timedelta(seconds=1))
    assert later.job_id != first.job_id
    lock = JOBS.lock("default")
    assert lock is not None and lock.job_id == later.job_id


@pytest.mark.usefixtures("scored")
def test_a_lock_left_by_a_settled_job_is_taken_over(queue: Queue) -> None:
    first = start(queue)
    drain(queue)
    # as if the worker stopped between the job's last count and releasing its model
    RescoreLockItem(
        *lock_keys("default"),
        job_id=first.job_id,
        held_until=int(NOW.timestamp()) + 3600,
    ).save()
    assert start(queue).job_id != first.job_id


@pytest.mark.usefixtures("scored")
def test_a_job_whose_listing_could_not_be_queued_frees_its_model(queue: Queue) -> None:
    class Refusing:
        def send(self, bodies: Any, delay_seconds: int = 0) -> None:
            raise RuntimeError("the rescore queue refused 10 messages")

    with pytest.raises(RuntimeError):
        rescore.start_job("default", JobOptions(), Refusing(), JOBS, CATALOG, NOW)
    assert jobs_of("default") == []
    assert start(queue).job_id in jobs_of("default")


def rescore_api(queue: Queue, monkeypatch: pytest.MonkeyPatch) -> Api:
    monkeypatch.setenv("RESCORE_QUEUE_URL", queue.url)
    return make_api(
        monkeypatch, LEADSCORE_API_KEY="k", RESCORE_QUEUE_URL=queue.url, MODEL_CACHE_SECONDS="0"
    )


@pytest.mark.usefixtures("scored")
def test_the_route_answers_409_naming_the_running_job(
    queue: Queue, topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = rescore_api(queue, monkeypatch)
    first = api.call("POST", "/v1/models/default/rescore", {"dry_run": True}, headers=dict(KEY))
    assert first.status == 202
    running_url = first.json()["progress_url"]

    second = api.call("POST", "/v1/models/default/rescore", {}, headers=dict(KEY))

    assert second.status == 409
    assert second.headers["Content-Type"] == "application/problem+json"
    problem = second.json()
    assert problem["status"] == 409 and problem["title"] == "Conflict"
    assert running_url in problem["detail"]

    worker = load_function("rescore")
    while batch := queue.receive():
        event = {"Records": [sqs_record(m) for m in batch]}
        assert worker.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
        for message in batch:
            queue.delete(message)
    done = api.call("GET", running_url, headers=dict(KEY)).json()
    assert done["status"] == "completed" and done["leads_done"] == LEADS
    again = api.call("POST", "/v1/models/default/rescore", {}, headers=dict(KEY))
    assert again.status == 202 and again.json()["progress_url"] != running_url


@pytest.mark.usefixtures("scored")
def test_the_cli_says_which_job_is_running(
    queue: Queue,
    topic: Topic,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`leadscore rescore` against the real API handler over HTTP on 127.0.0.1."""
    from leadscore_tools.cli import main

    api = rescore_api(queue, monkeypatch)
    running_url = api.call("POST", "/v1/models/default/rescore", {}, headers=dict(KEY)).json()[
        "progress_url"
    ]

    with api.serve() as url:
        status = main(["rescore", "default", "--api-url", url, "--api-key", "k"])
        _out, err = capsys.readouterr()

    assert status == 1
    assert "HTTP 409: a rescore job of this model is still running" in err
    assert running_url in err
