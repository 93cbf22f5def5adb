"""The rescore job store in DynamoDB (pynamodb): job, lock and step items beside the model's.

Design: docs/design/rescoring.md; the items: `adapters.dynamo`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from leadscore.adapters.dynamo import (
    RescoreJobItem,
    RescoreLockItem,
    RescoreStepItem,
    cancelled_by,
    connection,
)
from leadscore.services.rescore_jobs import (
    COUNTERS,
    DryRunTally,
    JobCounts,
    JobOptions,
    RescoreJob,
    RescoreLock,
    RescoreStep,
)

LOCK_SK = "RESCORE_LOCK"


def job_keys(model_id: str, job_id: str) -> tuple[str, str]:
    return f"MODEL#{model_id}", f"RESCORE#{job_id}"


def lock_keys(model_id: str) -> tuple[str, str]:
    return f"MODEL#{model_id}", LOCK_SK


def step_keys(job: RescoreJob, step_id: str) -> tuple[str, str]:
    return f"RESCORE#{job.job_id}", step_id


class DynamoRescoreJobs:
    """`RescoreJobStore` on the leads table."""

    def _commit(self, writes: Callable[[TransactWrite], None]) -> bool:
        """One transaction of `writes`; False when one of its conditions failed."""
        try:
            with TransactWrite(connection=connection()) as transaction:
                writes(transaction)
        except TransactWriteError as error:
            if cancelled_by(error, {"ConditionalCheckFailed"}):
                return False
            raise
        return True

    def start(self, job: RescoreJob, lock: RescoreLock, replacing: str | None) -> bool:
        item = RescoreLockItem(
            *lock_keys(lock.model_id),
            job_id=lock.job_id,
            held_until=lock.held_until,
            expires_at=datetime.fromtimestamp(lock.held_until, UTC),
        )
        condition = (
            RescoreLockItem.pk.does_not_exist() | (RescoreLockItem.held_until < job.created_at)
            if replacing is None
            else RescoreLockItem.job_id == replacing
        )

        def writes(transaction: TransactWrite) -> None:
            transaction.save(item, condition=condition)
            transaction.save(_job_item(job), condition=RescoreJobItem.pk.does_not_exist())

        return self._commit(writes)

    def lock(self, model_id: str) -> RescoreLock | None:
        try:
            item = RescoreLockItem.get(*lock_keys(model_id), consistent_read=True)
        except DoesNotExist:
            return None
        return RescoreLock(model_id, str(item.job_id), int(item.held_until))

    def release(self, model_id: str, job_id: str) -> None:
        try:
            RescoreLockItem(*lock_keys(model_id)).delete(condition=RescoreLockItem.job_id == job_id)
        except DeleteError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise

    def forget(self, job: RescoreJob) -> None:
        RescoreJobItem(*job_keys(job.model_id, job.job_id)).delete()

    def read(self, model_id: str, job_id: str) -> RescoreJob | None:
        try:
            item = RescoreJobItem.get(*job_keys(model_id, job_id), consistent_read=True)
        except DoesNotExist:
            return None
        return _job(item)

    def step(self, job: RescoreJob, step_id: str) -> RescoreStep | None:
        try:
            item = RescoreStepItem.get(*step_keys(job, step_id), consistent_read=True)
        except DoesNotExist:
            return None
        return _step(item)

    def record_step(self, job: RescoreJob, step: RescoreStep) -> RescoreStep:
        leads: Any = list(step.page) if step.step_id.startswith("LIST#") else step.before
        item = RescoreStepItem(
            *step_keys(job, step.step_id),
            leads=leads,
            next_cursor=step.next_cursor,
            expires_at=datetime.fromtimestamp(job.expires_at, UTC),
        )
        try:
            item.save(condition=RescoreStepItem.pk.does_not_exist())
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            existing = self.step(job, step.step_id)
            if existing is None:
                raise
            return existing
        return _step(item)

    def count_step(
        self,
        job: RescoreJob,
        step_id: str,
        counts: JobCounts,
        samples: dict[str, list[dict[str, Any]]],
        done_at: int,
        tally: DryRunTally | None = None,
    ) -> bool:
        actions: list[Any] = [
            getattr(RescoreJobItem, name).add(getattr(counts, name)) for name in COUNTERS
        ]
        actions += [
            RescoreJobItem.samples[shard].set(json.dumps(sample))  # type: ignore[attr-defined]
            for shard, sample in samples.items()
        ]
        if tally is not None and job.tallies is not None:
            # ADD on a key of a map the job was created with (a chunk adds a few dozen keys)
            actions += [
                RescoreJobItem.tallies[name].add(count)  # type: ignore[attr-defined]
                for name, count in tally.counts.items()
            ]
            actions.append(
                RescoreJobItem.mql_leads[tally.shard].set(json.dumps(tally.mql_leads()))  # type: ignore[attr-defined]
            )
        actions.append(RescoreJobItem.failed_steps.delete({step_id}))

        def writes(transaction: TransactWrite) -> None:
            transaction.update(
                RescoreStepItem(*step_keys(job, step_id)),
                [RescoreStepItem.done_at.set(done_at)],
                # UpdateItem would otherwise make a step, or a job of counters alone
                condition=RescoreStepItem.pk.exists() & RescoreStepItem.done_at.does_not_exist(),
            )
            transaction.update(
                RescoreJobItem(*job_keys(job.model_id, job.job_id)),
                actions,
                condition=RescoreJobItem.pk.exists(),
            )

        return self._commit(writes)

    def fail_step(self, job: RescoreJob, step_id: str) -> bool:
        def writes(transaction: TransactWrite) -> None:
            transaction.condition_check(
                RescoreStepItem,
                *step_keys(job, step_id),
                condition=RescoreStepItem.done_at.does_not_exist(),
            )
            transaction.update(
                RescoreJobItem(*job_keys(job.model_id, job.job_id)),
                [RescoreJobItem.failed_steps.add({step_id})],
                condition=RescoreJobItem.pk.exists(),
            )

        return self._commit(writes)

    def finish(self, job: RescoreJob, finished_at: int) -> bool:
        try:
            RescoreJobItem(*job_keys(job.model_id, job.job_id)).update(
                actions=[RescoreJobItem.finished_at.set(finished_at)],
                condition=RescoreJobItem.pk.exists() & RescoreJobItem.finished_at.does_not_exist(),
            )
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            return False
        return True


def _job_item(job: RescoreJob) -> RescoreJobItem:
    options = job.options
    counters: dict[str, Any] = job.counts.as_dict()
    return RescoreJobItem(
        *job_keys(job.model_id, job.job_id),
        model_id=job.model_id,
        model_version=job.model_version,
        job_id=job.job_id,
        options={
            "dry_run": options.dry_run,
            "notify": options.notify,
            "starts_at": job.starts_at,
            **({} if options.draft is None else {"draft": options.draft}),
        },
        at=job.at,
        created_at=job.created_at,
        finished_at=job.finished_at,
        shards=job.shards,
        samples={shard: json.dumps(sample) for shard, sample in job.samples.items()},
        failed_steps=set(job.failed_steps) or None,
        tallies=job.tallies,
        mql_leads={shard: json.dumps(leads) for shard, leads in job.mql_leads.items()},
        expires_at=datetime.fromtimestamp(job.expires_at, UTC),
        **counters,
    )


def _job(item: RescoreJobItem) -> RescoreJob:
    options = dict(item.options or {})
    return RescoreJob(
        model_id=str(item.model_id),
        model_version=int(item.model_version),
        job_id=str(item.job_id),
        options=JobOptions(
            bool(options.get("dry_run")), bool(options.get("notify")), options.get("draft")
        ),
        at=int(item.at),
        created_at=int(item.created_at),
        starts_at=int(options.get("starts_at") or item.created_at),
        shards=int(item.shards),
        finished_at=None if item.finished_at is None else int(item.finished_at),
        counts=JobCounts(**{name: int(getattr(item, name) or 0) for name in COUNTERS}),
        samples={
            shard: json.loads(text)
            for shard, text in (item.samples.as_dict().items() if item.samples else [])  # type: ignore[no-untyped-call]
        },
        failed_steps=frozenset(item.failed_steps or ()),
        # a job stored before dry runs kept tallies has none
        tallies=None if item.tallies is None else _counts(item.tallies.as_dict()),  # type: ignore[no-untyped-call]
        mql_leads={
            shard: json.loads(text)
            for shard, text in (item.mql_leads.as_dict().items() if item.mql_leads else [])  # type: ignore[no-untyped-call]
        },
    )


def _counts(stored: dict[str, Any]) -> dict[str, int]:
    return {name: int(count) for name, count in stored.items()}


def _step(item: RescoreStepItem) -> RescoreStep:
    step_id = str(item.sk)
    if step_id.startswith("LIST#"):
        return RescoreStep(
            step_id, [str(k) for k in item.leads], item.next_cursor, done=item.done_at is not None
        )
    before = {key: tuple(value) for key, value in dict(item.leads).items()}
    return RescoreStep(step_id, before=before, done=item.done_at is not None)
