"""Rescoring on the in-memory stores: every lead rebuilt as the new version would have scored
it, counted once under redelivery, a lead that keeps conflicting counted as a failure, and the
job store's conditions (one job per model, a step counted once, a done step never failed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from leadscore.adapters.dynamo import lead_key
from leadscore.adapters.memory_rescore_jobs import MemoryRescoreJobs
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.messages import encode
from leadscore.domain.model import ScoringModel
from leadscore.services import rescore
from leadscore.services.rescore_jobs import (
    JobCounts,
    JobOptions,
    JobRunning,
    RescoreJob,
    RescoreLock,
    RescoreStep,
)
from leadscore.services.scoring import score_messages
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, Recorder
from tests.integration.test_rescore import AT, LEADS, activity, changed_model, emails

NOW = AT + timedelta(hours=1)


class Models:
    """The published versions of one model id, and its live companion `fresh`."""

    def __init__(self) -> None:
        default = load_model(ROOT / "models" / "default.yaml")
        changed = changed_model(default)
        self.versions = {
            ("default", 1): default.model_copy(update={"version": 1}),
            ("default", 2): changed.model_copy(update={"version": 2}),
            ("fresh", 1): changed_model(default, "fresh").model_copy(update={"version": 1}),
        }
        self.live = [("default", 1), ("fresh", 1)]

    def current(self) -> list[CompiledModel]:
        return [compile_model(self.versions[key]) for key in self.live]

    def read(self, model_id: str, version: int) -> ScoringModel | None:
        return self.versions.get((model_id, version))

    def published(self, model_id: str) -> tuple[int, int] | None:
        versions = [v for m, v in self.versions if m == model_id]
        return (max(versions), int(AT.timestamp())) if versions else None


class ListQueue:
    """The rescore queue as a list, drained in order."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def send(self, bodies: Any, delay_seconds: int = 0) -> None:
        self.bodies += bodies

    def drain(self, handle: Callable[[str], None], repeat: int = 1) -> None:
        import json

        while self.bodies:
            body = json.dumps(self.bodies.pop(0))
            for _ in range(repeat):
                handle(body)


@pytest.fixture
def models() -> Models:
    return Models()


@pytest.fixture
def store(models: Models) -> MemoryLeadStore:
    """24 leads scored by v1 of `default` and, alongside, by `fresh` (v2's points)."""
    leads = MemoryLeadStore()
    for batch, day in enumerate((AT - timedelta(days=2), AT - timedelta(days=1))):
        pairs = [p for n, e in enumerate(emails()) for p in activity(e, n, day, batch)]
        bodies = [(f"m{n}", body) for n, body in enumerate(encode(pairs, day))]
        outcome = score_messages(bodies, leads, models, Recorder(), clock=lambda day=day: day)
        assert not outcome.failed
    return leads


def run(
    store: MemoryLeadStore,
    models: Models,
    jobs: MemoryRescoreJobs | None = None,
    options: JobOptions | None = None,
    repeat: int = 1,
) -> dict[str, Any]:
    jobs = jobs or MemoryRescoreJobs()
    queue = ListQueue()
    job = rescore.start_job("default", options or JobOptions(), queue, jobs, models, NOW)
    assert job is not None
    rescorer = rescore.Rescorer(
        queue, Recorder(), jobs, store, models, clock=lambda: NOW, list_page=7, chunk_size=3
    )
    queue.drain(rescorer.handle, repeat)
    found = jobs.read("default", job.job_id)
    assert found is not None
    return rescore.job_progress(found, store)


def states(store: MemoryLeadStore, model_id: str) -> dict[str, Any]:
    return {k: lead.states[model_id].state for k, lead in store.leads.items()}


def test_every_lead_becomes_what_the_new_version_would_have_made_it(
    store: MemoryLeadStore, models: Models
) -> None:
    result = run(store, models)

    assert result["status"] == "completed" and result["leads_done"] == LEADS
    assert result["failures"] == 0 and result["changed"] > 0
    fresh = states(store, "fresh")
    for key, state in states(store, "default").items():
        assert state.model_version == 2
        assert state.score == fresh[key].score and state.rating == fresh[key].rating
    assert {s["email"] for s in result["sample"]} <= set(emails())


def test_a_dry_run_writes_nothing_and_counts_what_the_real_run_changes(
    store: MemoryLeadStore, models: Models
) -> None:
    before = states(store, "default")
    dry = run(store, models, options=JobOptions(dry_run=True))
    assert states(store, "default") == before
    real = run(store, models)
    names = ("leads_done", "changed", "rating_changes", "new_mqls", "lost_mqls")
    assert {n: dry[n] for n in names} == {n: real[n] for n in names}


def test_every_message_delivered_twice_counts_once(store: MemoryLeadStore, models: Models) -> None:
    once = run(store, models, options=JobOptions(dry_run=True))
    twice = run(store, models, repeat=2)
    names = ("leads_total", "leads_done", "changed", "rating_changes", "new_mqls", "lost_mqls")
    assert {n: twice[n] for n in names} == {n: once[n] for n in names}
    assert twice["leads_total"] == LEADS
    assert twice["chunks"] == once["chunks"]


def test_a_lead_that_keeps_conflicting_is_counted_as_a_failure(
    store: MemoryLeadStore, models: Models
) -> None:
    target = lead_key(emails()[3])
    store.before_commit = lambda chunk: {target}  # another writer wins every time
    result = run(store, models)
    assert result["failures"] == 1 and result["leads_done"] == LEADS - 1
    assert store.leads[target].states["default"].state.model_version == 1


def test_a_second_job_of_the_model_waits_for_the_first(
    store: MemoryLeadStore, models: Models
) -> None:
    jobs, queue = MemoryRescoreJobs(), ListQueue()
    first = rescore.start_job("default", JobOptions(), queue, jobs, models, NOW)
    assert first is not None
    with pytest.raises(JobRunning) as running:
        rescore.start_job("default", JobOptions(), queue, jobs, models, NOW)
    assert running.value.job.job_id == first.job_id
    assert rescore.start_job("nope", JobOptions(), queue, jobs, models, NOW) is None


def job(created_at: int = 100) -> RescoreJob:
    return RescoreJob("m", 1, f"j{created_at}", JobOptions(), created_at, created_at, created_at, 1)


def test_the_job_store_takes_a_lock_only_when_free_or_from_the_named_job() -> None:
    jobs = MemoryRescoreJobs()
    assert jobs.start(job(100), RescoreLock("m", "j100", 200), None)
    assert not jobs.start(job(150), RescoreLock("m", "j150", 250), None)  # held until 200
    assert jobs.read("m", "j150") is None  # all or nothing
    assert not jobs.start(job(160), RescoreLock("m", "j160", 260), replacing="other")
    assert jobs.start(job(170), RescoreLock("m", "j170", 270), replacing="j100")
    assert jobs.start(job(300), RescoreLock("m", "j300", 400), None)  # j170's expired at 270
    jobs.release("m", "j170")  # no longer its lock: nothing happens
    assert jobs.lock("m") == RescoreLock("m", "j300", 400)


def test_the_job_store_counts_a_step_once_and_never_fails_a_done_one() -> None:
    jobs, started = MemoryRescoreJobs(), job()
    jobs.start(started, RescoreLock("m", started.job_id, 200), None)
    first = jobs.record_step(started, RescoreStep("CHUNK#00-000000-000", before={}))
    again = jobs.record_step(started, RescoreStep("CHUNK#00-000000-000", before={"k": (None,) * 4}))  # type: ignore[dict-item]
    assert again == first  # the first record stands
    assert jobs.fail_step(started, "CHUNK#00-000000-001")
    assert jobs.count_step(started, first.step_id, JobCounts(leads_done=3), {}, 120)
    assert not jobs.count_step(started, first.step_id, JobCounts(leads_done=3), {}, 121)
    assert not jobs.fail_step(started, first.step_id)
    found = jobs.read("m", started.job_id)
    assert found is not None and found.counts.leads_done == 3
    assert found.failed_steps == {"CHUNK#00-000000-001"}
    assert jobs.finish(started, 130) and not jobs.finish(started, 131)
