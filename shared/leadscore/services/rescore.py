"""Rescoring after a model change: starting a job, and the worker that does its steps.

Design: docs/design/rescoring.md.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.model import ScoringModel, parse_model
from leadscore.domain.notifications import Publisher
from leadscore.services import accounts
from leadscore.services.alerts import publish_pending
from leadscore.services.rescore_jobs import (
    LOCK_TTL,
    DryRunTally,
    JobCounts,
    JobOptions,
    JobRunning,
    RescoreJob,
    RescoreJobStore,
    RescoreLock,
    RescoreQueue,
    RescoreStep,
    is_complete,
    is_settled,
)
from leadscore.services.rescore_progress import mql_leads, progress, sample_leads
from leadscore.services.rescore_replay import Plan, plan_lead
from leadscore.services.retry import until_settled
from leadscore.services.store import SHARDS, LeadStore

logger = Logger(child=True)
LIST_PAGE = 900  # keys per list step: 9 chunks and the continuation fill one SendMessageBatch
CHUNK_SIZE = 100  # leads per chunk message: one Query each, a few transactions
SAMPLE_SIZE = 5  # changed leads a chunk offers to the job's sample (kept per shard)
READERS = 16  # leads read in parallel in a chunk: a Query is latency, not CPU
MAX_SETTLE_SECONDS = 900  # SQS's longest message delay


class ModelCatalog(Protocol):
    """The published scoring models, as far as rescoring reads them."""

    def published(self, model_id: str) -> tuple[int, int] | None:
        """The model's current version and when it was published (epoch); None: unknown."""
        ...

    def read(self, model_id: str, version: int) -> ScoringModel | None:
        """One published version of a model; None when it is not stored."""
        ...


# ---------------------------------------------------------------- the job


def start_job(
    model_id: str,
    options: JobOptions,
    queue: RescoreQueue,
    jobs: RescoreJobStore,
    catalog: ModelCatalog,
    now: datetime,
    settle_seconds: float = 0,
) -> RescoreJob | None:
    """Record a job for the model's current version and queue its listing; None when the
    model is unknown, JobRunning when another job of the model has not finished. The first
    messages wait until `settle_seconds` after the version was published, so that every
    scorer container scores with it before its leads are rebuilt. A preview (a dry run with
    a draft in its options) is a job like any other: one job per model at a time."""
    current = catalog.published(model_id)
    if current is None:
        return None
    version, published_at = current
    now_s = engine.epoch(now)
    wait = published_at + settle_seconds - now_s
    delay = max(0, min(MAX_SETTLE_SECONDS, math.ceil(wait)))
    job_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    job = RescoreJob(
        model_id=model_id,
        model_version=version,
        job_id=job_id,
        options=options,
        at=now_s,
        created_at=now_s,
        starts_at=now_s + delay,
        shards=SHARDS,
        tallies={} if options.dry_run else None,
    )
    _take_model(jobs, job)
    try:
        queue.send(
            [
                {"job": job_id, "model": model_id, "list": {"shard": n, "page": 0, "cursor": None}}
                for n in range(SHARDS)
            ],
            delay,
        )
    except Exception:
        # Without its messages the job would never run: forget it (a message already sent
        # then finds no job) and free the model.
        jobs.forget(job)
        jobs.release(model_id, job_id)
        raise
    logger.info("rescore job started", job=job_id, model=model_id, delay=delay)
    return job


def _take_model(jobs: RescoreJobStore, job: RescoreJob) -> None:
    """Save the job as its model's one running job, with the model's lock; JobRunning when
    another job holds it. A lock whose job settled (or is gone) without releasing it, or that
    expired, is taken over."""
    now_s = job.created_at
    lock = RescoreLock(job.model_id, job.job_id, now_s + int(LOCK_TTL.total_seconds()))
    replacing: str | None = None
    for _attempt in range(4):
        if jobs.start(job, lock, replacing):
            return
        holder = jobs.lock(job.model_id)
        if holder is None:  # released meanwhile
            replacing = None
            continue
        running = jobs.read(job.model_id, holder.job_id)
        if running is not None and holder.held_until >= now_s and not is_settled(running):
            raise JobRunning(running)
        replacing = holder.job_id
    raise RuntimeError(f"the rescore lock of model {job.model_id} kept changing hands")


def job_progress(job: RescoreJob, store: LeadStore) -> dict[str, Any]:
    """What `GET /v1/models/{id}/rescore/{job}` shows, the emails of its sample (and of a dry
    run's MQL moves) read now (an erased lead shows none)."""
    keys = sample_leads(job) + mql_leads(job)
    profiles = store.read_profiles(set(keys)) if keys else {}
    return progress(job, {key: profile.email for key, profile in profiles.items()})


# ---------------------------------------------------------------- the worker


def draft_version(draft: ScoringModel, published: int) -> ScoringModel:
    """A draft scored as the version it would be once published: the next one (so that a
    lead scored by the published version is replayed, not kept as newer)."""
    return draft.model_copy(update={"version": published + 1})


class RescoreMessageError(ValueError):
    """A rescore message that is not one of ours (it fails alone and goes to the DLQ)."""


def list_step_id(shard_no: int, page: int) -> str:
    return f"LIST#{shard_no:02d}#{page:06d}"


class Rescorer:
    """Handles the rescore queue's messages (one at a time: each is a list step or a chunk)."""

    def __init__(
        self,
        queue: RescoreQueue,
        publisher: Publisher,
        jobs: RescoreJobStore,
        store: LeadStore,
        catalog: ModelCatalog,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        list_page: int = LIST_PAGE,
        chunk_size: int = CHUNK_SIZE,
        readers: int = READERS,
        attempts: int = 6,
        retention_days: int = 400,
        max_receives: int = 3,
    ) -> None:
        self.queue = queue
        self.publisher = publisher
        self.jobs = jobs
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.list_page = list_page
        self.chunk_size = chunk_size
        self.readers = readers
        self.attempts = attempts
        self.retention_days = retention_days
        self.max_receives = max_receives  # the rescore queue's maxReceiveCount
        self._models: dict[tuple[str, int, str], CompiledModel] = {}  # (id, version, draft job)

    def handle(self, body: str, receive_count: int = 1) -> None:
        """Do one message's work; raises (SQS redelivers) when it could not be finished. On
        its last receive (`max_receives`) a failed step is first marked on the job."""
        try:
            message = json.loads(body)
            model_id, job_id = str(message["model"]), str(message["job"])
            if "list" in message:
                step = message["list"]
                shard_no, page, cursor = int(step["shard"]), int(step["page"]), step.get("cursor")
                step_id = list_step_id(shard_no, page)
            elif "chunk" in message:
                chunk_id, keys = str(message["chunk"]), [str(k) for k in message["leads"]]
                step_id = f"CHUNK#{chunk_id}"
            else:
                raise RescoreMessageError("neither a list step nor a chunk")
        except (ValueError, KeyError, TypeError):
            raise RescoreMessageError("not a rescore message") from None
        job = self.jobs.read(model_id, job_id)
        if job is None:  # expired or deleted: nothing left to do
            logger.warning("rescore job not found", job=job_id, model=model_id)
            return
        try:
            if step_id.startswith("LIST#"):
                self._list(job, shard_no, page, cursor)
            else:
                self._chunk(job, chunk_id, keys)
        except Exception:
            if receive_count >= self.max_receives:
                try:
                    self._fail(job, step_id)
                except Exception:  # the step's own error is the one to report
                    logger.exception("failed rescore step not marked", job=job_id, step=step_id)
            raise

    # -- list steps

    def _list(self, job: RescoreJob, shard_no: int, page: int, cursor: Any) -> None:
        step_id = list_step_id(shard_no, page)
        record = self.jobs.step(job, step_id)
        if record is not None and record.done:
            self._settle_again(job)
            return
        if record is None:
            keys, next_cursor = self.store.lead_keys(shard_no, self.list_page, cursor)
            record = self.jobs.record_step(job, RescoreStep(step_id, keys, next_cursor))
        keys, next_cursor = list(record.page), record.next_cursor
        chunks = [keys[i : i + self.chunk_size] for i in range(0, len(keys), self.chunk_size)]
        head = {"job": job.job_id, "model": job.model_id}
        bodies: list[dict[str, Any]] = [
            {**head, "chunk": f"{shard_no:02d}-{page:06d}-{n:03d}", "leads": chunk}
            for n, chunk in enumerate(chunks)
        ]
        if next_cursor:
            bodies.append(
                {**head, "list": {"shard": shard_no, "page": page + 1, "cursor": next_cursor}}
            )
        self.queue.send(bodies)
        counts = JobCounts(
            chunks_listed=len(chunks), leads_listed=len(keys), shards_listed=int(not next_cursor)
        )
        if self._count(job, step_id, counts) and not next_cursor:
            self._settle(job)

    # -- chunks

    def _chunk(self, job: RescoreJob, chunk_id: str, keys: list[str]) -> None:
        step_id = f"CHUNK#{chunk_id}"
        record = self.jobs.step(job, step_id)
        if record is not None and record.done:
            self._settle_again(job)
            return
        model = self._model(job)
        at = datetime.fromtimestamp(job.at, UTC)
        dry_run, notify = job.options.dry_run, job.options.notify
        plans = self._plan(model, keys, at, notify)
        if record is None:
            before = {
                key: (
                    None if plan.before is None else plan.before.rating,
                    None if plan.before is None else plan.before.status,
                    None if plan.before is None else plan.before.score / 100,
                    plan.changed,
                )
                for key, plan in plans.items()
            }
            record = self.jobs.record_step(job, RescoreStep(step_id, before=before))
        failed: set[str] = set()
        if not dry_run:
            failed = self._write(model, job, plans, at, notify)
            written = [k for k in plans if k not in failed and plans[k].write is not None]
            # The rebuilt states move their accounts; sales hears only when asked to.
            accounts.refresh(written, self.store, [model], self.publisher, at, notify=notify)
        counts = JobCounts(chunks_done=1)
        shard = chunk_id.split("-", 1)[0]
        tally = DryRunTally(shard) if dry_run and job.tallies is not None else None
        sample: list[dict[str, Any]] = []
        for key, (rating, status, score, changed) in record.before.items():
            if key in failed:
                counts.failures += 1
                continue
            counts.leads_done += 1
            plan = plans.get(key)
            if plan is None:  # erased since: nothing to count
                continue
            after = plan.after
            if tally is not None:
                tally.count(key, record.before[key], after.score / 100, after.rating, after.status)
            counts.changed += bool(changed)
            counts.rating_changes += rating != after.rating
            counts.new_mqls += status != "mql" and after.status == "mql"
            counts.lost_mqls += status == "mql" and after.status != "mql"
            if changed and len(sample) < SAMPLE_SIZE:
                sample.append(
                    {
                        "lead": key,
                        "before": {"score": score, "rating": rating, "status": status},
                        "after": {
                            "score": after.score / 100,
                            "rating": after.rating,
                            "status": after.status,
                        },
                    }
                )
        if notify and not dry_run:
            for plan in plans.values():
                if plan.key not in failed and plan.alerts:
                    published, _failed = publish_pending(
                        plan.key, plan.alerts, self.store, self.publisher
                    )
                    counts.notifications += published
        samples = {shard: sample} if sample else {}
        if tally is not None:
            tally.keep(job.mql_leads.get(shard, {}))
        if self._count(job, step_id, counts, samples, tally):
            self._settle(job)

    def _plan(
        self, model: CompiledModel, keys: Sequence[str], at: datetime, notify: bool
    ) -> dict[str, Plan]:
        with ThreadPoolExecutor(max_workers=max(1, min(self.readers, len(keys) or 1))) as pool:
            logs = list(pool.map(self.store.lead_log, keys))
        now_s = engine.epoch(self.clock())
        plans = (plan_lead(model, log, at, now_s, notify, self.retention_days) for log in logs)
        return {plan.key: plan for plan in plans if plan is not None}

    def _write(
        self,
        model: CompiledModel,
        job: RescoreJob,
        plans: dict[str, Plan],
        at: datetime,
        notify: bool,
    ) -> set[str]:
        """Write the changed leads; a lead changed meanwhile is read and replayed again.
        Returns the leads still conflicting after every attempt."""

        def attempt_round(pending: dict[str, Plan], attempt: int) -> dict[str, Plan]:
            if attempt:
                fresh = self._plan(model, list(pending), at, notify)
                for key in pending:
                    if key in fresh:
                        # keep the first "before": the chunk record counts against it
                        plans[key] = fresh[key]
                    else:
                        plans.pop(key, None)  # erased meanwhile
                pending = {k: plans[k] for k in pending if k in plans and plans[k].write}
            writes = [plan.write for plan in pending.values() if plan.write is not None]
            _written, retry = self.store.commit(writes)
            return {key: pending[key] for key in retry if key in pending}

        pending = {key: plan for key, plan in plans.items() if plan.write is not None}
        pending = until_settled(attempt_round, pending, self.attempts)
        for key in pending:
            logger.warning("lead kept conflicting; not rescored", lead=key[:12], job=job.job_id)
        return set(pending)

    # -- job bookkeeping

    def _model(self, job: RescoreJob) -> CompiledModel:
        """The version the job rescores with; a preview's draft, as the next version."""
        draft = job.options.draft
        key = (job.model_id, job.model_version, job.job_id if draft else "")
        if key not in self._models:
            scoring_model = (
                self.catalog.read(job.model_id, job.model_version)
                if draft is None
                else draft_version(parse_model(draft), job.model_version)
            )
            if scoring_model is None:
                raise LookupError(f"model {job.model_id} version {job.model_version} is not stored")
            self._models[key] = compile_model(scoring_model)
        return self._models[key]

    def _count(
        self,
        job: RescoreJob,
        step_id: str,
        counts: JobCounts,
        samples: dict[str, list[dict[str, Any]]] | None = None,
        tally: DryRunTally | None = None,
    ) -> bool:
        """Add a step's counts (and a dry run's tally) to the job once; False when it was
        already counted. A step that had failed its last receive (redriven from the DLQ) is
        no longer failed."""
        done_at = engine.epoch(self.clock())
        return self.jobs.count_step(job, step_id, counts, samples or {}, done_at, tally)

    def _fail(self, job: RescoreJob, step_id: str) -> None:
        """Mark a step failing its last receive (SQS moves it to the DLQ) on the job, unless it
        was done meanwhile (a duplicate delivery) or the job is gone."""
        if not self.jobs.fail_step(job, step_id):
            return
        logger.error("rescore step failed its last attempt", job=job.job_id, step=step_id)
        self._settle(job)

    def _settle_again(self, job: RescoreJob) -> None:
        """A redelivered step ends the job its first delivery may have left unended."""
        if is_settled(job) and (job.finished_at is None or job.failed_steps):
            self._settle(job)

    def _settle(self, job: RescoreJob) -> None:
        """Once nothing is left to run: a complete job gets its end; complete or not (steps in
        the DLQ), its model is free for a next job."""
        fresh = self.jobs.read(job.model_id, job.job_id)
        if fresh is None or not is_settled(fresh):
            return
        if is_complete(fresh) and fresh.finished_at is None:
            if self.jobs.finish(fresh, engine.epoch(self.clock())):
                logger.info("rescore job finished", job=job.job_id, model=job.model_id)
            # else: another step finished it first
        elif not is_complete(fresh):
            logger.warning(
                "rescore job incomplete: steps in the DLQ",
                job=job.job_id,
                model=job.model_id,
                failed=sorted(fresh.failed_steps),
            )
        self.jobs.release(job.model_id, job.job_id)
