"""Rescoring after a model change: every lead rebuilt for the model's current version by
deterministic replay of its event log, fanned out through a queue in chunks.

Job (`start_job`): a job item holds the options, the instant `at` every lead is rescored as
of, and counters; one *list* message per by_model shard starts the work. Every profile is
indexed in by_model under the pseudo model `*` (`EVERY_LEAD`), so the listing finds every
lead, also those without a state for a newly published model.

List step: reads up to `LIST_PAGE` lead keys of its shard from the index, records them (a
redelivery then sends exactly the same chunks), sends one *chunk* message per `CHUNK_SIZE`
leads plus the shard's continuation in one SendMessageBatch, then adds the page to the job's
counters and marks itself done, in one transaction.

Chunk: reads each lead (one Query: profile, states, event log), replays it, records what each
lead was before (once, so that a redelivery counts against the same "before"), writes the
changed states with the scorer's version conditions (a lead the scorer changed meanwhile is
read and replayed again: its new event is in the log, nothing is lost), then adds to the
job's counters and marks itself done, in one transaction conditioned on not being done yet.
A redelivered chunk is therefore counted once, and a redelivered list step lists once.
The chunk's rewritten leads then move their accounts (`accounts.refresh`, version-checked,
idempotent; account alerts only with `notify`).

A step that fails for good: a step failing on its last receive (`max_receives`, the queue's
maxReceiveCount: SQS then moves it to the DLQ) adds its id to the job's `failed_steps`, in one
transaction with a check that the step is not done (one counted before it failed is never
marked failed). The job then says `incomplete` (`failed_chunks`, `failed_pages`) once every
other step is done or failed (a failed list step ends its shard's listing). The step's own
counting transaction removes it from the set: redriven from the DLQ and done, it completes the
job, counted once (its record still holds its input and "before"). A last attempt that is
killed (the function timed out) cannot mark itself: that job stays running until redriven.

One job per model: `start_job` saves the job with the model's lock item in one conditional
transaction; a start while another job holds it gets `JobRunning` (HTTP 409 naming the job).
A settled job, complete or not, releases the lock if it still holds it; a start takes over a
lock whose job is settled or gone, or that is older than `LOCK_TTL` (a job that never ends).

Replay (`replay`): the lead's logged events in the order the scorer received them (grouped by
`received_at`), each group scored as of its reception, the model's decay applied up to each
group and finally up to `at`, with the lead's current profile: the state the lead would have
had if this version had scored it from the start. An MQL that stays an MQL keeps its episode
(mql_since, follow-up deadline, breach flag): sales already has it. A new MQL's deadline runs
from `at`. A changed lead gets a `rescore` change record, so that its history still adds up.

Dry run: everything but the writes; the counters and a small sample say what would change.
Notifications (`lead.mql` for a new MQL, `lead.cooled` for a lost one) only with `notify`.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from pynamodb.exceptions import (
    DeleteError,
    DoesNotExist,
    PutError,
    TransactWriteError,
    UpdateError,
)
from pynamodb.transactions import TransactWrite

from leadscore.adapters import lead_store, model_store
from leadscore.adapters.dynamo import (
    EVERY_LEAD,
    SHARDS,
    ChangeItem,
    ErasedItem,
    EventItem,
    LeadTable,
    ModelItem,
    ProfileItem,
    RescoreJobItem,
    RescoreLockItem,
    RescoreStepItem,
    StateItem,
    lead_pk,
)
from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.events import Event, EventError, event_from_dict
from leadscore.domain.notifications import Notification, Publisher, lead_notification
from leadscore.domain.state import LeadState
from leadscore.services import accounts
from leadscore.services.alerts import Alert, publish_pending, unique
from leadscore.services.scoring import _state_item

logger = Logger(child=True)
LIST_PAGE = 900  # keys per list step: 9 chunks and the continuation fill one SendMessageBatch
CHUNK_SIZE = 100  # leads per chunk message: one Query each, a few transactions
SAMPLE_SIZE = 5  # changed leads a chunk offers to the job's sample (kept per shard)
READERS = 16  # leads read in parallel in a chunk: a Query is latency, not CPU
MAX_SETTLE_SECONDS = 900  # SQS's longest message delay
JOB_RETENTION = timedelta(days=30)
# A job settles within the hour (a million leads take minutes; a failing step reaches the DLQ
# after 3 x 12 minutes): a job that never settles frees its model after this.
LOCK_TTL = timedelta(hours=3)
LOCK_SK = "RESCORE_LOCK"
COUNTERS = (
    "leads_done",
    "changed",
    "rating_changes",
    "new_mqls",
    "lost_mqls",
    "failures",
    "notifications",
)


class RescoreQueue(Protocol):
    def send(self, bodies: Sequence[dict[str, Any]], delay_seconds: int = 0) -> None: ...


class SqsRescoreQueue:
    """The rescore queue: SendMessageBatch, ten messages per request."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def send(self, bodies: Sequence[dict[str, Any]], delay_seconds: int = 0) -> None:
        for start in range(0, len(bodies), 10):
            entries = [
                {
                    "Id": str(n),
                    "MessageBody": json.dumps(body, separators=(",", ":")),
                    "DelaySeconds": delay_seconds,
                }
                for n, body in enumerate(bodies[start : start + 10])
            ]
            answer = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"the rescore queue refused {len(answer['Failed'])} messages")


@dataclass(frozen=True, slots=True)
class JobOptions:
    dry_run: bool = False
    notify: bool = False


class JobRunning(Exception):
    """Another job of the model has not finished yet: one job per model at a time."""

    def __init__(self, job: RescoreJobItem) -> None:
        super().__init__(f"rescore job {job.job_id} of model {job.model_id} is still running")
        self.job = job


# ---------------------------------------------------------------- the job


def job_keys(model_id: str, job_id: str) -> tuple[str, str]:
    return f"MODEL#{model_id}", f"RESCORE#{job_id}"


def start_job(
    model_id: str,
    options: JobOptions,
    queue: RescoreQueue,
    now: datetime,
    settle_seconds: float = 0,
) -> RescoreJobItem | None:
    """Record a job for the model's current version and queue its listing; None when the
    model is unknown, JobRunning when another job of the model has not finished. The first
    messages wait until `settle_seconds` after the version was published, so that every
    scorer container scores with it before its leads are rebuilt."""
    try:
        entry = ModelItem.get(model_store.CATALOG, model_id, consistent_read=True)
    except DoesNotExist:
        return None
    now_s = engine.epoch(now)
    wait = int(entry.published_at) + settle_seconds - now_s
    delay = max(0, min(MAX_SETTLE_SECONDS, math.ceil(wait)))
    job_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    job = RescoreJobItem(
        *job_keys(model_id, job_id),
        model_id=model_id,
        model_version=int(entry.current_version),
        job_id=job_id,
        options={"dry_run": options.dry_run, "notify": options.notify, "starts_at": now_s + delay},
        at=now_s,
        created_at=now_s,
        shards=SHARDS,
        samples={},
        expires_at=now + JOB_RETENTION,
    )
    _take_model(job, now_s)
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
        job.delete()
        release_model(model_id, job_id)
        raise
    logger.info("rescore job started", job=job_id, model=model_id, delay=delay)
    return job


def lock_keys(model_id: str) -> tuple[str, str]:
    return f"MODEL#{model_id}", LOCK_SK


def _take_model(job: RescoreJobItem, now_s: int) -> None:
    """Save the job as its model's one running job, in one transaction with the model's lock;
    JobRunning when another job holds it. A lock whose job settled (or is gone) without
    releasing it, or that expired, is taken over."""
    model_id, job_id = str(job.model_id), str(job.job_id)
    lock = RescoreLockItem(
        *lock_keys(model_id),
        job_id=job_id,
        held_until=now_s + int(LOCK_TTL.total_seconds()),
        expires_at=datetime.fromtimestamp(now_s, UTC) + LOCK_TTL,
    )
    free = RescoreLockItem.pk.does_not_exist() | (RescoreLockItem.held_until < now_s)
    condition = free
    for _attempt in range(4):
        try:
            with TransactWrite(connection=_connection()) as transaction:
                transaction.save(lock, condition=condition)
                transaction.save(job, condition=RescoreJobItem.pk.does_not_exist())
            return
        except TransactWriteError as error:
            if not _condition_failed(error):
                raise
        holder = _read_lock(model_id)
        if holder is None:  # released meanwhile
            condition = free
            continue
        running = read_job(model_id, str(holder.job_id))
        if running is not None and int(holder.held_until) >= now_s and not is_settled(running):
            raise JobRunning(running)
        condition = RescoreLockItem.job_id == str(holder.job_id)
    raise RuntimeError(f"the rescore lock of model {model_id} kept changing hands")


def _read_lock(model_id: str) -> RescoreLockItem | None:
    try:
        return RescoreLockItem.get(*lock_keys(model_id), consistent_read=True)
    except DoesNotExist:
        return None


def release_model(model_id: str, job_id: str) -> None:
    """Free the model for a next job, if `job_id` still holds it (idempotent)."""
    try:
        RescoreLockItem(*lock_keys(model_id)).delete(condition=RescoreLockItem.job_id == job_id)
    except DeleteError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


def read_job(model_id: str, job_id: str) -> RescoreJobItem | None:
    try:
        return RescoreJobItem.get(*job_keys(model_id, job_id), consistent_read=True)
    except DoesNotExist:
        return None


def failed_steps(job: RescoreJobItem, kind: str) -> int:
    """The job's steps of a kind (`LIST`, `CHUNK`) that failed their last receive."""
    return sum(1 for sk in job.failed_steps or () if sk.startswith(f"{kind}#"))


def is_complete(job: RescoreJobItem) -> bool:
    return (
        not job.failed_steps
        and int(job.shards_listed) >= int(job.shards)
        and int(job.chunks_done) >= int(job.chunks_listed)
    )


def is_settled(job: RescoreJobItem) -> bool:
    """Nothing left to run: every step is done or in the DLQ (a shard whose page failed
    lists no further)."""
    return int(job.shards_listed) + failed_steps(job, "LIST") >= int(job.shards) and int(
        job.chunks_done
    ) + failed_steps(job, "CHUNK") >= int(job.chunks_listed)


def progress(job: RescoreJobItem) -> dict[str, Any]:
    """What `GET /v1/models/{id}/rescore/{job}` shows: status, counters and a sample."""
    listing_complete = int(job.shards_listed) >= int(job.shards)
    if is_complete(job):
        status = "completed"
    elif job.failed_steps and is_settled(job):
        status = "incomplete"  # until its failed steps are redriven from the DLQ
    elif job.shards_listed or job.leads_listed or job.chunks_done or job.failed_steps:
        status = "running"
    else:
        status = "queued"
    samples = [
        entry
        for _shard, text in sorted(job.samples.as_dict().items() if job.samples else [])
        for entry in json.loads(text)
    ][:20]
    emails = _emails([s["lead"] for s in samples])
    return {
        "job_id": job.job_id,
        "model": job.model_id,
        "model_version": int(job.model_version),
        "dry_run": bool(job.options.get("dry_run")),
        "notify": bool(job.options.get("notify")),
        "status": status,
        "at": engine.iso(int(job.at)),
        # the first messages wait until every scorer uses the version (MODEL_CACHE_SECONDS)
        "starts_at": engine.iso(int(job.options.get("starts_at") or job.created_at)),
        "created_at": engine.iso(int(job.created_at)),
        "finished_at": engine.iso(None if job.finished_at is None else int(job.finished_at)),
        "leads_total": int(job.leads_listed),
        "listing_complete": listing_complete,
        **{name: int(getattr(job, name)) for name in COUNTERS},
        "chunks": {"listed": int(job.chunks_listed), "done": int(job.chunks_done)},
        # in the rescore DLQ: their leads (a page's: also the rest of its shard) are not done
        "failed_chunks": failed_steps(job, "CHUNK"),
        "failed_pages": failed_steps(job, "LIST"),
        # the email is read now: an erased lead shows none
        "sample": [
            {"email": emails.get(s["lead"]), **{k: v for k, v in s.items() if k != "lead"}}
            for s in samples
        ],
    }


def _emails(keys: Sequence[str]) -> dict[str, str]:
    if not keys:
        return {}
    found = ProfileItem.batch_get([(lead_pk(k), "PROFILE") for k in set(keys)])
    return {item.pk.removeprefix("LEAD#"): str(item.email) for item in found}


# ---------------------------------------------------------------- replay (pure)


def replay(
    model: CompiledModel,
    profile: dict[str, Any],
    events: Iterable[tuple[int, Event]],
    at: datetime,
) -> LeadState:
    """The lead's state had `model` scored its (received_at, event) log from the start, as of
    `at`: each reception scored as of its time, decay applied up to it and finally up to `at`."""
    state: LeadState | None = None
    ordered = sorted(events, key=lambda pair: (pair[0], pair[1].occurred_at, pair[1].id))
    for received, group in groupby(ordered, key=lambda pair: pair[0]):
        moment = datetime.fromtimestamp(received, UTC)
        if state is not None:
            state = engine.decay(model, state, moment).state
        state = engine.score(model, state, profile, [event for _, event in group], moment).state
    if state is None:
        state = engine.score(model, None, profile, [], at).state
    return engine.decay(model, state, at).state


def keep_episode(model: CompiledModel, before: LeadState | None, after: LeadState, at: int) -> None:
    """An MQL that stays one keeps its episode; a new one's follow-up deadline runs from `at`."""
    if after.status != "mql":
        return
    if before is not None and before.status == "mql":
        after.mql_since, after.sla_due_at = before.mql_since, before.sla_due_at
        after.sla_breached = before.sla_breached
        return
    sla = model.model.sla_hours.get(after.rating)
    after.mql_since, after.sla_breached = at, False
    after.sla_due_at = None if sla is None else at + round(sla * 3600)


def visible(model: CompiledModel, state: LeadState) -> dict[str, Any]:
    """What a user sees of a state (the version stamp aside): a difference is a change."""
    summary = engine.summary(model, state)
    summary.pop("model_version")
    return summary


# ---------------------------------------------------------------- the worker


@dataclass(slots=True)
class LeadLog:
    """One lead as read for a replay: its profile, its state for the model, its event log."""

    key: str
    profile: ProfileItem
    state_item: StateItem | None
    events: list[tuple[int, Event]]


@dataclass(slots=True)
class Plan:
    """What rescoring does to one lead: the state before and after, and the write."""

    key: str
    before: LeadState | None
    after: LeadState
    changed: bool
    write: lead_store.LeadWrite | None = None
    alerts: list[Alert] = field(default_factory=list)


@dataclass(slots=True)
class ChunkCounts:
    leads_done: int = 0
    changed: int = 0
    rating_changes: int = 0
    new_mqls: int = 0
    lost_mqls: int = 0
    failures: int = 0
    notifications: int = 0


class MessageError(ValueError):
    """A rescore message that is not one of ours (it fails alone and goes to the DLQ)."""


class Rescorer:
    """Handles the rescore queue's messages (one at a time: each is a list step or a chunk)."""

    def __init__(
        self,
        queue: RescoreQueue,
        publisher: Publisher,
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
        self.clock = clock
        self.list_page = list_page
        self.chunk_size = chunk_size
        self.readers = readers
        self.attempts = attempts
        self.retention_days = retention_days
        self.max_receives = max_receives  # the rescore queue's maxReceiveCount
        self._models: dict[tuple[str, int], CompiledModel] = {}

    def handle(self, body: str, receive_count: int = 1) -> None:
        """Do one message's work; raises (SQS redelivers) when it could not be finished. On
        its last receive (`max_receives`) a failed step is first marked on the job."""
        try:
            message = json.loads(body)
            model_id, job_id = str(message["model"]), str(message["job"])
            if "list" in message:
                step = message["list"]
                shard_no, page, cursor = int(step["shard"]), int(step["page"]), step.get("cursor")
                sk = list_sk(shard_no, page)
            elif "chunk" in message:
                chunk_id, keys = str(message["chunk"]), [str(k) for k in message["leads"]]
                sk = f"CHUNK#{chunk_id}"
            else:
                raise MessageError("neither a list step nor a chunk")
        except (ValueError, KeyError, TypeError):
            raise MessageError("not a rescore message") from None
        job = read_job(model_id, job_id)
        if job is None:  # expired or deleted: nothing left to do
            logger.warning("rescore job not found", job=job_id, model=model_id)
            return
        try:
            if sk.startswith("LIST#"):
                self._list(job, shard_no, page, cursor)
            else:
                self._chunk(job, chunk_id, keys)
        except Exception:
            if receive_count >= self.max_receives:
                try:
                    self._fail(job, sk)
                except Exception:  # the step's own error is the one to report
                    logger.exception("failed rescore step not marked", job=job_id, step=sk)
            raise

    # -- list steps

    def _list(self, job: RescoreJobItem, shard_no: int, page: int, cursor: Any) -> None:
        sk = list_sk(shard_no, page)
        record = self._step(job, sk)
        if record is not None and record.done_at is not None:
            self._settle_again(job)
            return
        if record is None:
            keys, next_cursor = _list_page(shard_no, cursor, self.list_page)
            record = self._record(job, sk, keys, next_cursor)
        keys, next_cursor = list(record.leads), record.next_cursor
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
        actions = [
            RescoreJobItem.chunks_listed.add(len(chunks)),
            RescoreJobItem.leads_listed.add(len(keys)),
        ]
        if not next_cursor:
            actions.append(RescoreJobItem.shards_listed.add(1))
        if self._count(job, record, actions) and not next_cursor:
            self._settle(job)

    # -- chunks

    def _chunk(self, job: RescoreJobItem, chunk_id: str, keys: list[str]) -> None:
        sk = f"CHUNK#{chunk_id}"
        record = self._step(job, sk)
        if record is not None and record.done_at is not None:
            self._settle_again(job)
            return
        model = self._model(job)
        at = datetime.fromtimestamp(int(job.at), UTC)
        dry_run, notify = bool(job.options.get("dry_run")), bool(job.options.get("notify"))
        plans = self._plan(model, job, keys, at, notify)
        if record is None:
            before = {
                key: [
                    None if plan.before is None else plan.before.rating,
                    None if plan.before is None else plan.before.status,
                    None if plan.before is None else plan.before.score / 100,
                    plan.changed,
                ]
                for key, plan in plans.items()
            }
            record = self._record(job, sk, before, None)
        failed: set[str] = set()
        if not dry_run:
            failed = self._write(model, job, plans, at, notify)
            written = [k for k in plans if k not in failed and plans[k].write is not None]
            # The rebuilt states move their accounts; sales hears only when asked to.
            accounts.refresh(written, [model], self.publisher, at, notify=notify)
        counts = ChunkCounts()
        sample: list[dict[str, Any]] = []
        for key, (rating, status, score, changed) in dict(record.leads).items():
            if key in failed:
                counts.failures += 1
                continue
            counts.leads_done += 1
            plan = plans.get(key)
            if plan is None:  # erased since: nothing to count
                continue
            after = plan.after
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
                    published, _failed = publish_pending(plan.key, plan.alerts, self.publisher)
                    counts.notifications += published
        actions = [getattr(RescoreJobItem, name).add(getattr(counts, name)) for name in COUNTERS]
        actions.append(RescoreJobItem.chunks_done.add(1))
        if sample:
            shard_key = chunk_id.split("-", 1)[0]
            actions.append(
                RescoreJobItem.samples[shard_key].set(json.dumps(sample))  # type: ignore[attr-defined]
            )
        if self._count(job, record, actions):
            self._settle(job)

    def _plan(
        self,
        model: CompiledModel,
        job: RescoreJobItem,
        keys: Sequence[str],
        at: datetime,
        notify: bool,
    ) -> dict[str, Plan]:
        with ThreadPoolExecutor(max_workers=max(1, min(self.readers, len(keys) or 1))) as pool:
            logs = list(pool.map(lambda key: read_lead(key, model.id), keys))
        now_s = engine.epoch(self.clock())
        return {
            log.key: plan_lead(model, log, at, now_s, notify, self.retention_days)
            for log in logs
            if log is not None
        }

    def _write(
        self,
        model: CompiledModel,
        job: RescoreJobItem,
        plans: dict[str, Plan],
        at: datetime,
        notify: bool,
    ) -> set[str]:
        """Write the changed leads; a lead changed meanwhile is read and replayed again.
        Returns the leads still conflicting after every attempt."""
        pending = {key: plan for key, plan in plans.items() if plan.write is not None}
        for attempt in range(self.attempts):
            if not pending:
                return set()
            if attempt:
                time.sleep(random.uniform(0, 0.02 * 2**attempt))
                fresh = self._plan(model, job, list(pending), at, notify)
                for key in pending:
                    if key in fresh:
                        # keep the first "before": the chunk record counts against it
                        plans[key] = fresh[key]
                    else:
                        plans.pop(key, None)  # erased meanwhile
                pending = {k: plans[k] for k in pending if k in plans and plans[k].write}
                if not pending:
                    return set()
            writes = [plan.write for plan in pending.values() if plan.write is not None]
            _written, retry = lead_store.commit(writes)
            pending = {key: pending[key] for key in retry if key in pending}
        for key in pending:
            logger.warning("lead kept conflicting; not rescored", lead=key[:12], job=job.job_id)
        return set(pending)

    # -- job bookkeeping

    def _model(self, job: RescoreJobItem) -> CompiledModel:
        key = (str(job.model_id), int(job.model_version))
        if key not in self._models:
            scoring_model = model_store.read(*key)
            if scoring_model is None:
                raise LookupError(f"model {key[0]} version {key[1]} is not stored")
            self._models[key] = compile_model(scoring_model)
        return self._models[key]

    def _step(self, job: RescoreJobItem, sk: str) -> RescoreStepItem | None:
        try:
            return RescoreStepItem.get(f"RESCORE#{job.job_id}", sk, consistent_read=True)
        except DoesNotExist:
            return None

    def _record(
        self, job: RescoreJobItem, sk: str, leads: Any, next_cursor: Any
    ) -> RescoreStepItem:
        """Record a step's input once; a concurrent duplicate gets the first one's."""
        record = RescoreStepItem(
            f"RESCORE#{job.job_id}",
            sk,
            leads=leads,
            next_cursor=next_cursor,
            expires_at=datetime.fromtimestamp(int(job.created_at), UTC) + JOB_RETENTION,
        )
        try:
            record.save(condition=RescoreStepItem.pk.does_not_exist())
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            existing = self._step(job, sk)
            if existing is None:
                raise
            return existing
        return record

    def _count(self, job: RescoreJobItem, record: RescoreStepItem, actions: list[Any]) -> bool:
        """Add a step's counts to the job once; False when it was already counted. A step that
        had failed its last receive (redriven from the DLQ) is no longer failed."""
        now_s = engine.epoch(self.clock())
        try:
            with TransactWrite(connection=_connection()) as transaction:
                transaction.update(
                    record,
                    [RescoreStepItem.done_at.set(now_s)],
                    condition=RescoreStepItem.done_at.does_not_exist(),
                )
                transaction.update(
                    job, [*actions, RescoreJobItem.failed_steps.delete({str(record.sk)})]
                )
        except TransactWriteError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def _fail(self, job: RescoreJobItem, sk: str) -> None:
        """Mark a step failing its last receive (SQS moves it to the DLQ) on the job, unless it
        was done meanwhile: checked in the same transaction, so a done step is never failed."""
        try:
            with TransactWrite(connection=_connection()) as transaction:
                transaction.condition_check(
                    RescoreStepItem,
                    f"RESCORE#{job.job_id}",
                    sk,
                    condition=RescoreStepItem.done_at.does_not_exist(),
                )
                transaction.update(
                    job,
                    [RescoreJobItem.failed_steps.add({sk})],
                    condition=RescoreJobItem.pk.exists(),
                )
        except TransactWriteError as error:
            if _condition_failed(error):  # done meanwhile (a duplicate delivery), or no job
                return
            raise
        logger.error("rescore step failed its last attempt", job=job.job_id, step=sk)
        self._settle(job)

    def _settle_again(self, job: RescoreJobItem) -> None:
        """A redelivered step ends the job its first delivery may have left unended."""
        if is_settled(job) and (job.finished_at is None or job.failed_steps):
            self._settle(job)

    def _settle(self, job: RescoreJobItem) -> None:
        """Once nothing is left to run: a complete job gets its end; complete or not (steps in
        the DLQ), its model is free for a next job."""
        fresh = read_job(str(job.model_id), str(job.job_id))
        if fresh is None or not is_settled(fresh):
            return
        if is_complete(fresh) and fresh.finished_at is None:
            try:
                fresh.update(
                    actions=[RescoreJobItem.finished_at.set(engine.epoch(self.clock()))],
                    condition=RescoreJobItem.finished_at.does_not_exist(),
                )
                logger.info("rescore job finished", job=job.job_id, model=job.model_id)
            except UpdateError as error:
                if error.cause_response_code != "ConditionalCheckFailedException":
                    raise
                # another step finished it first
        elif not is_complete(fresh):
            logger.warning(
                "rescore job incomplete: steps in the DLQ",
                job=job.job_id,
                model=job.model_id,
                failed=sorted(fresh.failed_steps or ()),
            )
        release_model(str(job.model_id), str(job.job_id))


def list_sk(shard_no: int, page: int) -> str:
    return f"LIST#{shard_no:02d}#{page:06d}"


def _connection() -> Any:
    return LeadTable._get_connection().connection


def _condition_failed(error: TransactWriteError) -> bool:
    reasons = error.cancellation_reasons or []
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)


def _list_page(shard_no: int, cursor: Any, limit: int) -> tuple[list[str], Any]:
    """A page of the lead keys of one shard (by_model under the pseudo model `*`)."""
    client: Any = LeadTable._get_connection().connection.client
    request: dict[str, Any] = {
        "TableName": LeadTable.Meta.table_name,
        "IndexName": "by_model",
        "KeyConditionExpression": "model_pk = :m",
        "ExpressionAttributeValues": {":m": {"S": f"{EVERY_LEAD}#{shard_no:02d}"}},
        "Limit": limit,
    }
    if cursor:
        request["ExclusiveStartKey"] = cursor
    answer = client.query(**request)
    keys = [item["pk"]["S"].removeprefix("LEAD#") for item in answer.get("Items", [])]
    return keys, answer.get("LastEvaluatedKey")


def read_lead(key: str, model_id: str) -> LeadLog | None:
    """The lead's profile, its state for the model and its event log, in one Query;
    None when it is erased (or was never more than a marker)."""
    profile: ProfileItem | None = None
    state_item: StateItem | None = None
    erased_at: int | None = None
    logged: list[EventItem] = []
    for item in LeadTable.query(lead_pk(key), consistent_read=True):
        if isinstance(item, ProfileItem):
            profile = item
        elif isinstance(item, StateItem) and item.model == model_id:
            state_item = item
        elif isinstance(item, EventItem):
            logged.append(item)
        elif isinstance(item, ErasedItem):
            erased_at = int(item.erased_at)
    if profile is None:
        return None
    events: list[tuple[int, Event]] = []
    for item in logged:
        received = int(item.received_at)
        if erased_at is not None and received <= erased_at:
            continue  # queued before an erasure: never counted again
        try:
            event = event_from_dict(item.event, datetime.fromtimestamp(received, UTC))
        except EventError:
            logger.warning("unreadable logged event skipped", lead=key[:12], event=item.sk)
            continue
        events.append((received, event))
    return LeadLog(key, profile, state_item, events)


def plan_lead(
    model: CompiledModel,
    log: LeadLog,
    at: datetime,
    now_s: int,
    notify: bool,
    retention_days: int,
) -> Plan:
    """Replay one lead and decide its write (None: nothing to write)."""
    at_s = engine.epoch(at)
    before = None if log.state_item is None else LeadState.from_dict(log.state_item.state)
    if before is not None and before.model_version > model.version:
        # Scored by a version published after this job's: never take it back to this one.
        return Plan(log.key, before, before, False)
    profile = {**log.profile.profile, "email": log.profile.email}
    after = replay(model, profile, log.events, at)
    keep_episode(model, before, after, at_s)
    changed = before is None or visible(model, before) != visible(model, after)
    plan = Plan(log.key, before, after, changed)
    if before is not None and before.to_dict() == after.to_dict():
        return plan
    item = _state_item(log.key, model, log.state_item, after, now_s, str(log.profile.email))
    if notify:
        was_mql = before is not None and before.status == "mql"
        kind = (
            "lead.mql"
            if after.status == "mql" and not was_mql
            else "lead.cooled"
            if was_mql and after.status != "mql"
            else None
        )
        if kind is not None:
            notification = lead_notification(
                kind,
                f"{kind}:{model.id}:{log.key[:16]}:{at_s}",
                str(log.profile.email),
                profile,
                engine.summary(model, after),
            )
            item.pending[notification.id] = json.dumps(notification.to_dict())
        plan.alerts = unique(
            [
                (model.id, Notification.from_dict(json.loads(message)))
                for message in item.pending.as_dict().values()
            ]
        )
    items: list[LeadTable] = [item]
    new_records: set[int] = set()
    difference = _difference(before, after)
    if difference:
        version = 1 + (
            int(log.state_item.version) if log.state_item and log.state_item.version else 0
        )
        delta = engine.Delta(
            "rescore", at_s, after.score - (before.score if before else 0), difference
        )
        new_records.add(1)
        items.append(
            ChangeItem(
                lead_pk(log.key),
                # unique per state version, as the scorer's change records are
                f"CH#{at_s:011d}#{model.id}#{version:09d}#rescore",
                at=at_s,
                deltas={model.id: [delta.to_dict()]},
                expires_at=at + timedelta(days=retention_days),
            )
        )
    if log.state_item is None:
        # A first state (a new model): the profile is saved again on its version, so that a
        # lead erased since it was read is not given a state again.
        items.append(log.profile)
    plan.write = lead_store.LeadWrite(log.key, items, new_records)
    return plan


def _difference(before: LeadState | None, after: LeadState) -> dict[str, int]:
    """Per reason, the centipoints the rescore moved (they add up to the score's change)."""
    old = {} if before is None else {k: v[0] for k, v in before.reasons.items()}
    new = {k: v[0] for k, v in after.reasons.items()}
    moved = {key: new.get(key, 0) - old.get(key, 0) for key in {*old, *new}}
    return {key: points for key, points in sorted(moved.items()) if points}
