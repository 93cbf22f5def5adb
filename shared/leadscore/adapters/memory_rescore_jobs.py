"""The rescore job store in memory, with DynamoDB's conditions and all-or-nothing writes.

For fast tests; faults are injected by wrapping its methods. Design: docs/design/rescoring.md.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import replace
from typing import Any

from leadscore.services.rescore_jobs import (
    COUNTERS,
    DryRunTally,
    JobCounts,
    RescoreJob,
    RescoreLock,
    RescoreStep,
)


class MemoryRescoreJobs:
    """`RescoreJobStore` in dictionaries; every method is atomic (one lock)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.jobs: dict[tuple[str, str], RescoreJob] = {}
        self.locks: dict[str, RescoreLock] = {}
        self.steps: dict[tuple[str, str], RescoreStep] = {}

    def start(self, job: RescoreJob, lock: RescoreLock, replacing: str | None) -> bool:
        with self._lock:
            held = self.locks.get(lock.model_id)
            if replacing is None:
                free = held is None or held.held_until < job.created_at
            else:
                free = held is not None and held.job_id == replacing
            if not free or (job.model_id, job.job_id) in self.jobs:
                return False
            self.locks[lock.model_id] = lock
            self.jobs[(job.model_id, job.job_id)] = copy.deepcopy(job)
            return True

    def lock(self, model_id: str) -> RescoreLock | None:
        with self._lock:
            return self.locks.get(model_id)

    def release(self, model_id: str, job_id: str) -> None:
        with self._lock:
            held = self.locks.get(model_id)
            if held is not None and held.job_id == job_id:
                del self.locks[model_id]

    def forget(self, job: RescoreJob) -> None:
        with self._lock:
            self.jobs.pop((job.model_id, job.job_id), None)

    def read(self, model_id: str, job_id: str) -> RescoreJob | None:
        with self._lock:
            return copy.deepcopy(self.jobs.get((model_id, job_id)))

    def step(self, job: RescoreJob, step_id: str) -> RescoreStep | None:
        with self._lock:
            return copy.deepcopy(self.steps.get((job.job_id, step_id)))

    def record_step(self, job: RescoreJob, step: RescoreStep) -> RescoreStep:
        with self._lock:
            found = self.steps.setdefault((job.job_id, step.step_id), copy.deepcopy(step))
            return copy.deepcopy(found)

    def count_step(
        self,
        job: RescoreJob,
        step_id: str,
        counts: JobCounts,
        samples: dict[str, list[dict[str, Any]]],
        done_at: int,
        tally: DryRunTally | None = None,
    ) -> bool:
        with self._lock:
            step = self.steps.get((job.job_id, step_id))
            stored = self.jobs.get((job.model_id, job.job_id))
            if step is None or step.done or stored is None:
                return False
            self.steps[(job.job_id, step_id)] = replace(step, done=True)
            for name in COUNTERS:
                setattr(stored.counts, name, getattr(stored.counts, name) + getattr(counts, name))
            stored.samples.update(copy.deepcopy(samples))
            if tally is not None and stored.tallies is not None:
                for name, count in tally.counts.items():
                    stored.tallies[name] = stored.tallies.get(name, 0) + count
                stored.mql_leads[tally.shard] = copy.deepcopy(tally.mql_leads())
            stored.failed_steps = stored.failed_steps - {step_id}
            return True

    def fail_step(self, job: RescoreJob, step_id: str) -> bool:
        with self._lock:
            step = self.steps.get((job.job_id, step_id))
            stored = self.jobs.get((job.model_id, job.job_id))
            if (step is not None and step.done) or stored is None:
                return False
            stored.failed_steps = stored.failed_steps | {step_id}
            return True

    def finish(self, job: RescoreJob, finished_at: int) -> bool:
        with self._lock:
            stored = self.jobs.get((job.model_id, job.job_id))
            if stored is None or stored.finished_at is not None:
                return False
            stored.finished_at = finished_at
            return True
