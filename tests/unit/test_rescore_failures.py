"""A rescore step that fails for good, on the in-memory stores and queue: on its last receive it
is marked on the job, which then says `incomplete` instead of running forever; redriven from
the DLQ, it completes the job, nothing counted twice."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from leadscore.adapters.memory_rescore_jobs import MemoryRescoreJobs
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain.emails import lead_key
from leadscore.services.rescore_jobs import JobCounts, JobOptions, RescoreJob
from leadscore.services.rescore_progress import progress
from leadscore.services.store import SHARDS, Cursor, LeadLog, shard_of
from leadscore_tools.template import load_template

from tests.unit.rescore_helpers import COUNTED, LEADS, MemoryQueue, Rescoring, emails

RESOURCES = load_template()["Resources"]
MAX_RECEIVES = int(RESOURCES["RescoreQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"])


class FailingReads(MemoryLeadStore):
    """The lead store, where reading the log of lead `lead` or listing shard `shard` fails
    (`left` times, or while set)."""

    def __init__(self) -> None:
        super().__init__()
        self.lead: str | None = None
        self.shard: int | None = None
        self.left: int | None = None
        self.raised = 0

    def lead_log(self, key: str) -> LeadLog:
        if key == self.lead:
            self._fail()
        return super().lead_log(key)

    def lead_keys(self, shard: int, limit: int, cursor: Cursor | None) -> Any:
        if shard == self.shard:
            self._fail()
        return super().lead_keys(shard, limit, cursor)

    def _fail(self) -> None:
        if self.left is None or self.left > 0:
            if self.left is not None:
                self.left -= 1
            self.raised += 1
            raise RuntimeError("DynamoDB is unavailable")


def failing() -> tuple[Rescoring, FailingReads]:
    store = FailingReads()
    return Rescoring(store), store


def dry_run(scene: Rescoring) -> dict[str, Any]:
    result = scene.run(JobOptions(dry_run=True))
    assert result["status"] == "completed" and result["leads_done"] == LEADS
    return result


def run(scene: Rescoring, queue: MemoryQueue, after_each: Any = None) -> None:
    """Deliver the queue to the worker as the rescore function would, receive count included."""
    queue.drain(scene.rescorer(queue, max_receives=MAX_RECEIVES).handle, after_each=after_each)


def test_the_template_tells_the_worker_the_rescore_queues_max_receive_count() -> None:
    variables = RESOURCES["RescoreFunction"]["Properties"]["Environment"]["Variables"]
    assert int(variables["RESCORE_MAX_RECEIVE_COUNT"]) == MAX_RECEIVES


def test_a_chunk_in_the_dlq_makes_the_job_incomplete_and_its_redrive_completes_it() -> None:
    scene, store = failing()
    expected = dry_run(scene)
    store.lead = lead_key(emails()[3])

    queue = MemoryQueue(MAX_RECEIVES)
    job = scene.start(queue)
    run(scene, queue)

    assert store.raised == MAX_RECEIVES  # every receive SQS allows, then the DLQ
    assert len(queue.dead) == 1 and "chunk" in json.loads(queue.dead[0])
    stuck = scene.progress(job)
    assert stuck["status"] == "incomplete" and stuck["finished_at"] is None
    assert stuck["failed_chunks"] == 1 and stuck["failed_pages"] == 0
    in_chunk = len(json.loads(queue.dead[0])["leads"])
    assert stuck["leads_total"] == LEADS and stuck["leads_done"] == LEADS - in_chunk
    assert stuck["chunks"]["done"] == stuck["chunks"]["listed"] - 1

    # fixed, then redriven, twice over (SQS may deliver a message twice): counted once
    store.lead = None
    queue.redrive(copies=2)
    run(scene, queue)

    done = scene.progress(job)
    assert done["status"] == "completed" and done["finished_at"]
    assert done["failed_chunks"] == 0 and queue.dead == []
    assert {n: done[n] for n in COUNTED} == {n: expected[n] for n in COUNTED}
    assert done["chunks"]["done"] == done["chunks"]["listed"]


def test_a_listing_page_in_the_dlq_makes_the_job_incomplete_until_redriven() -> None:
    scene, store = failing()
    expected = dry_run(scene)
    store.shard = shard_of(lead_key(emails()[0]))

    queue = MemoryQueue(MAX_RECEIVES)
    job = scene.start(queue)
    run(scene, queue)

    stuck = scene.progress(job)
    missing = sum(shard_of(lead_key(e)) == store.shard for e in emails())
    assert stuck["status"] == "incomplete" and not stuck["listing_complete"]
    assert stuck["failed_pages"] == 1 and stuck["failed_chunks"] == 0
    assert stuck["leads_total"] == stuck["leads_done"] == LEADS - missing

    store.shard = None
    queue.redrive()
    run(scene, queue)

    done = scene.progress(job)
    assert done["status"] == "completed" and done["failed_pages"] == 0
    assert {n: done[n] for n in COUNTED} == {n: expected[n] for n in COUNTED}


def test_a_step_that_succeeds_before_its_last_receive_is_never_marked_failed() -> None:
    scene, store = failing()
    store.lead, store.left = lead_key(emails()[3]), MAX_RECEIVES - 1
    queue = MemoryQueue(MAX_RECEIVES)
    job = scene.start(queue)
    seen: list[tuple[str, int]] = []

    def look() -> None:
        now = scene.progress(job)
        seen.append((now["status"], now["failed_chunks"]))

    run(scene, queue, after_each=look)

    assert store.raised == MAX_RECEIVES - 1
    assert {failed for _, failed in seen} == {0}
    assert {status for status, _ in seen} <= {"running", "completed"}
    done = scene.progress(job)
    assert done["status"] == "completed" and done["leads_done"] == LEADS
    assert queue.dead == []


class CrashingAfterCounting(MemoryRescoreJobs):
    """The job store of a worker that times out once, right after counting a step."""

    crashed = False

    def count_step(self, *args: Any, **kwargs: Any) -> bool:
        counted = super().count_step(*args, **kwargs)
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("the Lambda timed out after counting")
        return counted


def test_a_step_that_fails_after_it_was_counted_is_not_marked_failed() -> None:
    """Its counts are in (the step is done): failing it would leave the job incomplete forever."""
    scene = Rescoring()
    scene.jobs = jobs = CrashingAfterCounting()
    queue = MemoryQueue()
    job = scene.start(queue)
    rescorer = scene.rescorer(queue, max_receives=MAX_RECEIVES)

    def on_its_last_receive(body: str, _receives: int) -> None:
        with contextlib.suppress(RuntimeError):  # then deleted, as SQS moves it to the DLQ
            rescorer.handle(body, receive_count=MAX_RECEIVES)

    queue.drain(on_its_last_receive)

    assert jobs.crashed
    done = scene.progress(job)
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
