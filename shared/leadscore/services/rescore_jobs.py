"""The rescore job store port: jobs, their model's lock and their steps, in domain types.

Design: docs/design/rescoring.md. Implementations: `adapters.dynamo_rescore_jobs` (DynamoDB)
and `adapters.memory_rescore_jobs` (in memory, same conditions, all or nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any, Protocol

JOB_RETENTION = timedelta(days=30)
# A job settles within the hour (a million leads take minutes; a failing step reaches the DLQ
# after 3 x 12 minutes): a job that never settles frees its model after this.
LOCK_TTL = timedelta(hours=3)
Cursor = Any  # opaque and JSON-serialisable: where a shard's listing continues


@dataclass(slots=True)
class JobCounts:
    """A job's counters, which only grow; also what one step adds to them."""

    shards_listed: int = 0
    chunks_listed: int = 0
    leads_listed: int = 0
    chunks_done: int = 0
    leads_done: int = 0
    changed: int = 0
    rating_changes: int = 0
    new_mqls: int = 0
    lost_mqls: int = 0
    failures: int = 0
    notifications: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


COUNTERS = tuple(f.name for f in fields(JobCounts))


@dataclass(frozen=True, slots=True)
class JobOptions:
    dry_run: bool = False
    notify: bool = False
    # a preview: the model document a dry run scores with instead of the published version
    draft: dict[str, Any] | None = None


LeadBefore = tuple[str | None, str | None, float | None, bool]  # rating, status, score, changed
BINS = 10  # a dry run's score histograms: 0-10, 10-20, ... 90-100
MQL_LEADS_KEPT = 20  # leads that became (or left) MQL a dry run keeps per shard
NO_RATING = "none"  # the "from" rating of a lead the model had not scored yet


def score_bin(score: float) -> int:
    """The histogram bin of a score (0-100): 100 falls in the last one."""
    return max(0, min(BINS - 1, int(score // (100 / BINS))))


@dataclass(slots=True)
class DryRunTally:
    """What one chunk of a dry run adds to its job: its leads' score bins before and after
    (`before.3`, `after.7`), their rating transitions (`A1>B2`, `none>C3`), and, per shard,
    the leads that became or stopped being MQLs (merged with those the job keeps)."""

    shard: str
    counts: dict[str, int] = field(default_factory=dict)
    became_mql: list[str] = field(default_factory=list)
    left_mql: list[str] = field(default_factory=list)

    def count(self, key: str, before: LeadBefore, score: float, rating: str, status: str) -> None:
        """Count one lead: what it was (`before`) and what the dry run makes it."""
        rating_before, status_before, score_before, _changed = before
        if score_before is not None:
            self._add(f"before.{score_bin(score_before)}")
        self._add(f"after.{score_bin(score)}")
        self._add(f"{rating_before or NO_RATING}>{rating}")
        if status == "mql" and status_before != "mql":
            self.became_mql.append(key)
        if status_before == "mql" and status != "mql":
            self.left_mql.append(key)

    def _add(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def keep(self, kept: dict[str, list[str]]) -> None:
        """Put the leads the job already keeps for the shard before this chunk's (a chunk of
        the same shard counted meanwhile may lose its own: these lists are a sample)."""
        self.became_mql = _first(kept.get("became", []) + self.became_mql)
        self.left_mql = _first(kept.get("left", []) + self.left_mql)

    def mql_leads(self) -> dict[str, list[str]]:
        return {"became": self.became_mql, "left": self.left_mql}


def _first(keys: list[str]) -> list[str]:
    return list(dict.fromkeys(keys))[:MQL_LEADS_KEPT]


@dataclass(slots=True)
class RescoreJob:
    """A rescoring job: its options, the instant `at` every lead is rescored as of (epoch
    seconds), its counters, a sample of changed leads per shard and its failed steps."""

    model_id: str
    model_version: int
    job_id: str
    options: JobOptions
    at: int
    created_at: int
    starts_at: int  # its first messages wait until every scorer uses the version
    shards: int
    finished_at: int | None = None
    counts: JobCounts = field(default_factory=JobCounts)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # shard -> leads
    # steps that failed their last receive (in the DLQ); a step that succeeds leaves it
    failed_steps: frozenset[str] = frozenset()
    # a dry run's DryRunTally counts, summed (None: the job keeps none, not being a dry run)
    tallies: dict[str, int] | None = None
    # a dry run's leads that became or left MQL, per shard: {"became": [...], "left": [...]}
    mql_leads: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def expires_at(self) -> int:
        return self.created_at + int(JOB_RETENTION.total_seconds())


@dataclass(frozen=True, slots=True)
class RescoreLock:
    """The running job of a model: one at a time; a job that never ends frees it at
    `held_until`."""

    model_id: str
    job_id: str
    held_until: int


@dataclass(frozen=True, slots=True)
class RescoreStep:
    """One listed page (`LIST#..`: its keys and the next cursor) or one chunk (`CHUNK#..`:
    what each lead was before), recorded once so that a redelivery does the same work."""

    step_id: str
    page: Sequence[str] = ()
    next_cursor: Cursor | None = None
    before: dict[str, LeadBefore] = field(default_factory=dict)
    done: bool = False


class JobRunning(Exception):
    """Another job of the model has not finished yet: one job per model at a time."""

    def __init__(self, job: RescoreJob) -> None:
        super().__init__(f"rescore job {job.job_id} of model {job.model_id} is still running")
        self.job = job


class RescoreJobStore(Protocol):
    """Rescore jobs, their model's lock and their steps."""

    def start(self, job: RescoreJob, lock: RescoreLock, replacing: str | None) -> bool:
        """Save a new job and its model's lock in one transaction. The lock is taken only
        when free (none, or `held_until` before the job's `created_at`), or, with `replacing`,
        only from that job; False, nothing saved, otherwise."""
        ...

    def lock(self, model_id: str) -> RescoreLock | None:
        """The model's lock (strongly consistent)."""
        ...

    def release(self, model_id: str, job_id: str) -> None:
        """Free the model's lock if `job_id` holds it (idempotent)."""
        ...

    def forget(self, job: RescoreJob) -> None:
        """Delete a job (one whose first messages could not be sent)."""
        ...

    def read(self, model_id: str, job_id: str) -> RescoreJob | None:
        """A job (strongly consistent); None when unknown (an expired job is gone once the
        table's TTL has deleted it, within days of `expires_at`)."""
        ...

    def step(self, job: RescoreJob, step_id: str) -> RescoreStep | None:
        """A recorded step (strongly consistent)."""
        ...

    def record_step(self, job: RescoreJob, step: RescoreStep) -> RescoreStep:
        """Record a step's input once; a concurrent duplicate gets the first one's."""
        ...

    def count_step(
        self,
        job: RescoreJob,
        step_id: str,
        counts: JobCounts,
        samples: dict[str, list[dict[str, Any]]],
        done_at: int,
        tally: DryRunTally | None = None,
    ) -> bool:
        """In one transaction: mark the recorded step done (only if it is not), add `counts`
        to the job's counters, set its `samples` (by shard), add a dry run's `tally` to its
        tallies and set its shard's MQL leads, and take the step out of its failed steps.
        False, nothing written, when the step was already done, was never recorded, or its
        job is gone."""
        ...

    def fail_step(self, job: RescoreJob, step_id: str) -> bool:
        """Add a step to the job's failed steps, in one transaction with a check that the
        step is not done (recorded or not) and the job exists; False, nothing written,
        otherwise."""
        ...

    def finish(self, job: RescoreJob, finished_at: int) -> bool:
        """Set the job's end once; False when it already has one."""
        ...


class RescoreQueue(Protocol):
    """Where the job's list steps and chunks are sent as messages."""

    def send(self, bodies: Sequence[dict[str, Any]], delay_seconds: int = 0) -> None: ...


def failed_steps(job: RescoreJob, kind: str) -> int:
    """The job's steps of a kind (`LIST`, `CHUNK`) that failed their last receive."""
    return sum(1 for step_id in job.failed_steps if step_id.startswith(f"{kind}#"))


def is_complete(job: RescoreJob) -> bool:
    return (
        not job.failed_steps
        and job.counts.shards_listed >= job.shards
        and job.counts.chunks_done >= job.counts.chunks_listed
    )


def is_settled(job: RescoreJob) -> bool:
    """Nothing left to run: every step is done or in the DLQ (a shard whose page failed
    lists no further)."""
    counts = job.counts
    return (
        counts.shards_listed + failed_steps(job, "LIST") >= job.shards
        and counts.chunks_done + failed_steps(job, "CHUNK") >= counts.chunks_listed
    )
