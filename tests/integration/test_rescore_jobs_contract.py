"""The rescore job store port's contract, run against both stores: in memory, and DynamoDB inside
moto; then one job per model through `start_job` and the worker, over either store."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from leadscore.adapters.dynamo_rescore_jobs import DynamoRescoreJobs
from leadscore.adapters.memory_rescore_jobs import MemoryRescoreJobs
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain.model import ScoringModel
from leadscore.services import rescore
from leadscore.services.rescore_jobs import (
    COUNTERS,
    LOCK_TTL,
    JobCounts,
    JobOptions,
    JobRunning,
    RescoreJob,
    RescoreJobStore,
    RescoreLock,
    RescoreStep,
)
from leadscore.services.store import SHARDS

from tests.conftest import Recorder

T0 = 1_700_000_000
HOUR = 3600
PAGE = "LIST#03#000000"
CHUNK = "CHUNK#03-000000-000"


def _memory(request: pytest.FixtureRequest) -> RescoreJobStore:
    return MemoryRescoreJobs()


def _dynamo(request: pytest.FixtureRequest) -> RescoreJobStore:
    request.getfixturevalue("aws")  # moto, with the table of template.yaml
    return DynamoRescoreJobs()


STORES: dict[str, Callable[[pytest.FixtureRequest], RescoreJobStore]] = {
    "memory": _memory,
    "dynamo": _dynamo,
}


@pytest.fixture(params=sorted(STORES))
def jobs(request: pytest.FixtureRequest) -> RescoreJobStore:
    return STORES[request.param](request)


def job(job_id: str = "j1", model_id: str = "fit", created_at: int = T0) -> RescoreJob:
    return RescoreJob(
        model_id=model_id,
        model_version=2,
        job_id=job_id,
        options=JobOptions(dry_run=True, notify=False),
        at=created_at - 60,
        created_at=created_at,
        starts_at=created_at + 30,
        shards=2,
    )


def lock(started: RescoreJob, held_for: int = HOUR) -> RescoreLock:
    return RescoreLock(started.model_id, started.job_id, started.created_at + held_for)


def started(jobs: RescoreJobStore, job_id: str = "j1", model_id: str = "fit") -> RescoreJob:
    new = job(job_id, model_id)
    assert jobs.start(new, lock(new), None)
    return new


def read(jobs: RescoreJobStore, of: RescoreJob) -> RescoreJob:
    found = jobs.read(of.model_id, of.job_id)
    assert found is not None
    return found


def sample(lead: str) -> list[dict[str, Any]]:
    return [{"lead": lead, "before": {"score": 41.5, "rating": "B2"}, "after": {"score": 52.0}}]


# -- starting a job: the model's lock -------------------------------------------------------


def test_a_started_job_and_its_lock_read_back_as_saved(jobs: RescoreJobStore) -> None:
    new = job()
    assert jobs.start(new, lock(new), None)
    assert jobs.read("fit", "j1") == new
    assert jobs.lock("fit") == RescoreLock("fit", "j1", T0 + HOUR)


def test_an_unknown_job_lock_or_step_reads_as_none(jobs: RescoreJobStore) -> None:
    assert jobs.read("fit", "nope") is None
    assert jobs.lock("fit") is None
    first = started(jobs)
    assert jobs.read("fit", "nope") is None and jobs.read("other", first.job_id) is None
    assert jobs.step(first, PAGE) is None


def test_a_held_lock_refuses_a_second_job_and_saves_none_of_it(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    second = job("j2", created_at=T0 + HOUR)  # the first lock's last second
    assert not jobs.start(second, lock(second), None)
    assert jobs.read("fit", "j2") is None  # all or nothing
    assert jobs.lock("fit") == lock(first)


def test_a_lock_past_its_held_until_is_taken_over(jobs: RescoreJobStore) -> None:
    started(jobs)
    later = job("j2", created_at=T0 + HOUR + 1)
    assert jobs.start(later, lock(later), None)
    assert jobs.lock("fit") == lock(later)
    assert jobs.read("fit", "j1") is not None  # the old job stays, for its progress page


def test_a_lock_is_taken_from_the_named_job_only(jobs: RescoreJobStore) -> None:
    unheld = job("j0")
    assert not jobs.start(unheld, lock(unheld), replacing="j9")  # no lock to replace
    assert jobs.read("fit", "j0") is None
    first = started(jobs)
    second, third = job("j2", created_at=T0 + 1), job("j3", created_at=T0 + 2)
    assert not jobs.start(second, lock(second), replacing="j9")
    assert jobs.read("fit", "j2") is None
    assert jobs.start(third, lock(third), replacing=first.job_id)
    assert jobs.lock("fit") == lock(third)


def test_another_model_is_locked_on_its_own(jobs: RescoreJobStore) -> None:
    started(jobs)
    other = started(jobs, "j2", model_id="other")
    assert jobs.lock("fit") == lock(job()) and jobs.lock("other") == lock(other)
    jobs.release("other", "j2")
    assert jobs.lock("fit") == lock(job())


def test_a_job_id_starts_once(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    jobs.release("fit", first.job_id)
    assert not jobs.start(replace(first, shards=7), lock(first), None)
    assert jobs.lock("fit") is None  # all or nothing
    assert read(jobs, first).shards == 2


def test_starts_racing_on_one_model_take_it_once(jobs: RescoreJobStore) -> None:
    racers = 8
    barrier = threading.Barrier(racers)
    won: list[str] = []

    def race(n: int) -> None:
        racer = job(f"j{n}")
        barrier.wait()
        if jobs.start(racer, lock(racer), None):
            won.append(racer.job_id)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(won) == 1
    assert [n for n in range(racers) if jobs.read("fit", f"j{n}")] == [int(won[0][1:])]
    lock_now = jobs.lock("fit")
    assert lock_now is not None and lock_now.job_id == won[0]


def test_only_the_holder_releases_the_lock(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    jobs.release("fit", "j2")
    assert jobs.lock("fit") == lock(first)
    jobs.release("fit", first.job_id)
    assert jobs.lock("fit") is None
    jobs.release("fit", first.job_id)  # idempotent
    jobs.release("nope", first.job_id)  # a model never locked
    assert jobs.lock("fit") is None and jobs.read("fit", first.job_id) is not None


def test_a_forgotten_job_is_gone_and_its_lock_stays_until_released(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    jobs.forget(first)
    assert jobs.read("fit", first.job_id) is None
    assert jobs.lock("fit") == lock(first)
    jobs.forget(first)  # idempotent


# -- steps ----------------------------------------------------------------------------------


def test_a_step_is_recorded_once_and_a_duplicate_gets_the_first(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    page = RescoreStep(PAGE, ["k1", "k2"], {"after": "k2"})
    chunk = RescoreStep(CHUNK, before={"k1": ("B2", "mql", 41.5, True), "k2": (None,) * 4})  # type: ignore[dict-item]

    assert jobs.record_step(first, page) == page
    assert jobs.record_step(first, chunk) == chunk
    assert jobs.record_step(first, RescoreStep(PAGE, ["k3"], None)) == page
    assert jobs.record_step(first, RescoreStep(CHUNK, before={})) == chunk
    assert jobs.step(first, PAGE) == page and jobs.step(first, CHUNK) == chunk
    assert jobs.step(job("j2"), PAGE) is None  # steps are the job's own


def test_a_step_recorded_by_racers_keeps_one_input(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    racers = 6
    barrier = threading.Barrier(racers)
    got: list[RescoreStep] = []

    def race(n: int) -> None:
        barrier.wait()
        got.append(jobs.record_step(first, RescoreStep(PAGE, [f"k{n}"], None)))

    threads = [threading.Thread(target=race, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(got) == racers and all(step == got[0] for step in got)
    assert jobs.step(first, PAGE) == got[0]


def test_a_step_is_counted_once(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    jobs.record_step(first, RescoreStep(CHUNK, before={}))
    counts = JobCounts(chunks_done=1, leads_done=3, changed=2)

    assert jobs.count_step(first, CHUNK, counts, {"03": sample("k1")}, T0 + 5)
    assert not jobs.count_step(first, CHUNK, counts, {"03": sample("k9")}, T0 + 6)

    found = read(jobs, first)
    assert found.counts == counts and found.samples == {"03": sample("k1")}
    step = jobs.step(first, CHUNK)
    assert step is not None and step.done


def test_counters_add_up_over_steps(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    total = JobCounts()
    for n in range(3):
        step_id = f"CHUNK#03-000000-00{n}"
        jobs.record_step(first, RescoreStep(step_id, before={}))
        counts = JobCounts(**{name: n + i for i, name in enumerate(COUNTERS)})
        assert jobs.count_step(first, step_id, counts, {}, T0 + n)
        total = JobCounts(
            **{name: getattr(total, name) + getattr(counts, name) for name in COUNTERS}
        )
    assert read(jobs, first).counts == total


def test_samples_are_kept_by_shard_the_latest_per_shard(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    for step_id, samples in [
        ("CHUNK#03-000000-000", {"03": sample("k1")}),
        ("CHUNK#05-000000-000", {"05": sample("k5")}),
        ("CHUNK#03-000000-001", {"03": sample("k2")}),
        ("CHUNK#07-000000-000", {}),  # a chunk that changed nobody
    ]:
        jobs.record_step(first, RescoreStep(step_id, before={}))
        assert jobs.count_step(first, step_id, JobCounts(chunks_done=1), samples, T0)
    found = read(jobs, first)
    assert found.samples == {"03": sample("k2"), "05": sample("k5")}
    assert found.counts.chunks_done == 4


def test_counting_a_step_never_recorded_writes_nothing(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    assert not jobs.count_step(first, CHUNK, JobCounts(leads_done=3), {"03": sample("k1")}, T0)
    assert jobs.step(first, CHUNK) is None
    assert read(jobs, first) == first


def test_counting_a_step_of_a_missing_job_writes_nothing(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    jobs.record_step(first, RescoreStep(CHUNK, before={}))
    jobs.forget(first)
    assert not jobs.count_step(first, CHUNK, JobCounts(leads_done=3), {}, T0)
    assert jobs.read("fit", first.job_id) is None  # no job made of counters alone
    step = jobs.step(first, CHUNK)
    assert step is not None and not step.done


def test_a_step_counted_by_racers_counts_once(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    jobs.record_step(first, RescoreStep(CHUNK, before={}))
    racers = 6
    barrier = threading.Barrier(racers)
    counted: list[bool] = []

    def race() -> None:
        barrier.wait()
        counted.append(jobs.count_step(first, CHUNK, JobCounts(leads_done=3), {}, T0))

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(counted) == [False] * (racers - 1) + [True]
    assert read(jobs, first).counts.leads_done == 3


def test_a_failed_step_stays_failed_until_it_is_counted(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    jobs.record_step(first, RescoreStep(CHUNK, before={}))
    assert jobs.fail_step(first, CHUNK)
    assert jobs.fail_step(first, PAGE)  # one that failed before it was recorded
    assert jobs.fail_step(first, PAGE)  # again: still one
    assert read(jobs, first).failed_steps == {CHUNK, PAGE}

    assert jobs.count_step(first, CHUNK, JobCounts(chunks_done=1), {}, T0)  # redriven
    found = read(jobs, first)
    assert found.failed_steps == {PAGE} and found.counts.chunks_done == 1


def test_a_done_step_is_never_failed(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    jobs.record_step(first, RescoreStep(CHUNK, before={}))
    jobs.count_step(first, CHUNK, JobCounts(chunks_done=1), {}, T0)
    assert not jobs.fail_step(first, CHUNK)
    assert read(jobs, first).failed_steps == frozenset()


def test_a_step_of_a_missing_job_is_not_failed(jobs: RescoreJobStore) -> None:
    gone = job()
    assert not jobs.fail_step(gone, PAGE)
    assert jobs.read("fit", gone.job_id) is None


def test_a_job_finishes_once(jobs: RescoreJobStore) -> None:
    first = started(jobs)
    assert jobs.finish(first, T0 + 10)
    assert not jobs.finish(first, T0 + 20)
    assert read(jobs, first).finished_at == T0 + 10
    assert not jobs.finish(job("j2"), T0 + 10)  # unknown: nothing made
    assert jobs.read("fit", "j2") is None


# -- one job per model, through start_job and the worker ----------------------------------

NOW = datetime(2026, 11, 1, 13, tzinfo=UTC)


class Catalog:
    """Two published models; no lead is stored, so no chunk ever reads one."""

    def published(self, model_id: str) -> tuple[int, int] | None:
        return (2, T0) if model_id in ("default", "fresh") else None

    def read(self, model_id: str, version: int) -> ScoringModel | None:
        return None


class ListQueue:
    """The rescore queue as a list (racing starts send whole), drained in order."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def send(self, bodies: Any, delay_seconds: int = 0) -> None:
        with self._lock:
            self.bodies += bodies

    def drain(self, handle: Callable[[str], None]) -> None:
        while self.bodies:
            handle(json.dumps(self.bodies.pop(0)))


class Passing:
    """A job store passed through but for the methods a subclass overrides."""

    def __init__(self, jobs: RescoreJobStore) -> None:
        self.jobs = jobs

    def __getattr__(self, name: str) -> Any:
        return getattr(self.jobs, name)


class Attempts(Passing):
    """Keeps the id of every job it is asked to start: a refused one must not be saved."""

    def __init__(self, jobs: RescoreJobStore) -> None:
        super().__init__(jobs)
        self.started: list[str] = []

    def start(self, job: RescoreJob, lock: RescoreLock, replacing: str | None) -> bool:
        self.started.append(job.job_id)
        return bool(self.jobs.start(job, lock, replacing))


def start(jobs: Any, queue: Any, model_id: str = "default", now: datetime = NOW) -> RescoreJob:
    new = rescore.start_job(model_id, JobOptions(), queue, jobs, Catalog(), now)
    assert new is not None
    return new


def rescorer(jobs: Any, queue: ListQueue, **worker: Any) -> rescore.Rescorer:
    return rescore.Rescorer(
        queue, Recorder(), jobs, MemoryLeadStore(), Catalog(), clock=lambda: NOW, **worker
    )


def status(jobs: RescoreJobStore, of: RescoreJob) -> str:
    return str(rescore.job_progress(read(jobs, of), MemoryLeadStore())["status"])


def test_starts_racing_on_one_model_leave_exactly_one_job(jobs: RescoreJobStore) -> None:
    attempts, queue = Attempts(jobs), ListQueue()
    racers = 8
    barrier = threading.Barrier(racers)
    started_ids: list[str] = []
    refused: list[str] = []

    def race() -> None:
        barrier.wait()
        try:
            started_ids.append(start(attempts, queue).job_id)
        except JobRunning as running:
            refused.append(running.job.job_id)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(started_ids) == 1 and len(refused) == racers - 1
    assert set(refused) == set(started_ids)  # every loser names the winner
    assert len(set(attempts.started)) >= racers
    assert [i for i in attempts.started if jobs.read("default", i)] == started_ids
    assert len(queue.bodies) == SHARDS  # one job's listing, not eight
    assert {body["job"] for body in queue.bodies} == set(started_ids)


def test_another_model_can_be_rescored_meanwhile(jobs: RescoreJobStore) -> None:
    queue = ListQueue()
    first = start(jobs, queue)
    assert start(jobs, queue, "fresh").model_id == "fresh"
    with pytest.raises(JobRunning) as running:
        start(jobs, queue)
    assert running.value.job.job_id == first.job_id


def test_a_finished_job_frees_its_model(jobs: RescoreJobStore) -> None:
    queue = ListQueue()
    first = start(jobs, queue)
    with pytest.raises(JobRunning) as running:
        start(jobs, queue)
    assert running.value.job.job_id == first.job_id
    queue.drain(rescorer(jobs, queue).handle)
    assert status(jobs, first) == "completed" and read(jobs, first).finished_at
    assert jobs.lock("default") is None
    assert start(jobs, queue).job_id != first.job_id


def test_an_incomplete_job_frees_its_model(jobs: RescoreJobStore) -> None:
    """A list step that failed its last receive: the job is over until redriven."""

    class PageUnreadable(Passing):
        def step(self, job: RescoreJob, step_id: str) -> RescoreStep | None:
            if step_id == "LIST#05#000000":
                raise RuntimeError("DynamoDB is unavailable")
            return self.jobs.step(job, step_id)

    queue = ListQueue()
    first = start(jobs, queue)
    worker = rescorer(PageUnreadable(jobs), queue, max_receives=1)

    def handle(body: str) -> None:
        with contextlib.suppress(RuntimeError):  # its last receive: in the DLQ
            worker.handle(body, receive_count=1)

    queue.drain(handle)
    assert status(jobs, first) == "incomplete"
    assert read(jobs, first).failed_steps == {"LIST#05#000000"}
    assert start(jobs, queue).job_id != first.job_id


def test_a_lock_outlives_its_job_only_until_it_expires(jobs: RescoreJobStore) -> None:
    queue = ListQueue()
    first = start(jobs, queue)  # its messages are never handled: as if the job crashed
    with pytest.raises(JobRunning):
        start(jobs, queue, now=NOW + LOCK_TTL - timedelta(seconds=1))
    later = start(jobs, queue, now=NOW + LOCK_TTL + timedelta(seconds=1))
    assert later.job_id != first.job_id
    held = jobs.lock("default")
    assert held is not None and held.job_id == later.job_id


def test_a_lock_left_by_a_settled_job_is_taken_over(jobs: RescoreJobStore) -> None:
    class NeverReleased(Passing):
        """As if the worker stopped between the job's last count and freeing its model."""

        def release(self, model_id: str, job_id: str) -> None:
            pass

    queue = ListQueue()
    first = start(jobs, queue)
    queue.drain(rescorer(NeverReleased(jobs), queue).handle)
    held = jobs.lock("default")
    assert status(jobs, first) == "completed"
    assert held is not None and held.job_id == first.job_id and held.held_until > T0
    later = start(jobs, queue)
    assert later.job_id != first.job_id
    held = jobs.lock("default")
    assert held is not None and held.job_id == later.job_id


def test_a_lock_whose_job_is_gone_is_taken_over(jobs: RescoreJobStore) -> None:
    queue = ListQueue()
    first = start(jobs, queue)
    jobs.forget(first)  # expired, or deleted by hand
    assert start(jobs, queue).job_id != first.job_id


def test_a_job_whose_listing_could_not_be_queued_frees_its_model(jobs: RescoreJobStore) -> None:
    class Refusing:
        def send(self, bodies: Any, delay_seconds: int = 0) -> None:
            raise RuntimeError("the rescore queue refused 10 messages")

    attempts = Attempts(jobs)
    with pytest.raises(RuntimeError):
        start(attempts, Refusing())
    [refused] = attempts.started
    assert jobs.read("default", refused) is None
    assert jobs.lock("default") is None
    later = start(jobs, ListQueue())
    assert jobs.read("default", later.job_id) == later
