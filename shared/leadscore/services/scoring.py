"""Score a batch of queue messages exactly once. Design: docs/design/exactly-once.md.

Each lead's share is computed in services/lead_scoring.py; here the batch is read, written
(conflicts retried, refusals dead-lettered), and its notifications published."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from aws_lambda_powertools import Logger

from leadscore.domain.compiled import CompiledModel
from leadscore.domain.emails import lead_key
from leadscore.domain.events import retry_ids
from leadscore.domain.messages import Entry, Incoming, QueueMessageError, encode, read
from leadscore.domain.notifications import Publisher
from leadscore.services import accounts
from leadscore.services.alerts import publish_pending
from leadscore.services.lead_scoring import LeadBatch, Limits, ScoredLead, Stats, score_lead
from leadscore.services.profiles import UNTRUSTED_PER_HOUR
from leadscore.services.retry import until_settled
from leadscore.services.store import (
    EventRecord,
    LeadStore,
    LeadWrite,
    ProfileRecord,
    WriteRefused,
)
from leadscore.services.transactions import lead_room
from leadscore.services.visitor_store import VisitorStore
from leadscore.services.visitors import DEFAULT_VISITS, Item, VisitPolicy, VisitStats, resolve

logger = Logger(child=True)


class ModelSource(Protocol):
    def current(self) -> Sequence[CompiledModel]: ...


class DeadLetterSink(Protocol):
    def send(self, body: str, reason: str) -> None: ...


@dataclass(slots=True)
class DeadLetter:
    """Records that can never be scored, for the dead-letter queue with the reason; the
    messages they came in fail instead if the letter cannot be sent."""

    body: str
    reason: str
    messages: set[str]


@dataclass(slots=True)
class BatchOutcome:
    failed: set[str] = field(default_factory=set)  # message ids to hand back to SQS
    dead_letters: list[DeadLetter] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    visits: VisitStats = field(default_factory=VisitStats)


def score_messages(
    messages: Sequence[tuple[str, str]],
    store: LeadStore,
    models: ModelSource,
    publisher: Publisher,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    retention_days: int = 400,
    attempts: int = 6,
    untrusted_per_hour: int = UNTRUSTED_PER_HOUR,
    visitors: VisitorStore | None = None,
    visit_policy: VisitPolicy = DEFAULT_VISITS,
) -> BatchOutcome:
    """Score (message id, body) pairs: the outcome names the messages that failed (SQS
    redelivers them) and the dead letters (records that can never be scored). Website
    visitors' events are kept in, or credited from, `visitors` (services/visitors.py)."""
    outcome = BatchOutcome()
    items: list[Item] = []
    for message_id, body in messages:
        try:
            message = read(body)
        except QueueMessageError as error:
            logger.error("unreadable scoring message", message_id=message_id, reason=str(error))
            outcome.dead_letters.append(DeadLetter(body, f"unreadable: {error}", {message_id}))
            continue
        if message.unreadable:  # alone: the message's other events are scored
            reasons = "; ".join(reason for _, reason in message.unreadable)
            logger.error("unreadable scoring events", message_id=message_id, reason=reasons)
            letter = DeadLetter(message.unreadable_body(), f"unreadable: {reasons}", {message_id})
            outcome.dead_letters.append(letter)
        items += [(message_id, item) for item in message.incoming]
    leads: dict[str, LeadBatch] = {}
    for message_id, item in _resolved(items, visitors, clock(), visit_policy, outcome):
        key = lead_key(item.email)
        lead = leads.setdefault(key, LeadBatch(key, item.email))
        lead.incoming.append(item)
        lead.messages.add(message_id)
    batch = _Batch(
        store,
        list(models.current()) if leads else [],
        publisher,
        clock,
        Limits(retention_days, attempts, untrusted_per_hour),
        outcome,
    )
    # A lead with more new events than one transaction holds is written in several, in
    # order: each pass writes the next share of every such lead.
    while leads:
        leads = batch.score_pass(leads)
    return outcome


def _resolved(
    items: list[Item],
    visitors: VisitorStore | None,
    now: datetime,
    policy: VisitPolicy,
    outcome: BatchOutcome,
) -> list[Item]:
    """The batch's items as lead events (services/visitors.py). When the visitor store
    fails, the messages with a visitor's event are redelivered and the others scored."""
    if not any(item.visitor for _, item in items):
        return items
    try:
        if visitors is None:
            raise ValueError("a website visitor's event, and no visitor store to keep it")
        return resolve(items, visitors, int(now.timestamp()), policy, outcome.visits)
    except Exception:
        logger.exception("visitors could not be read or kept; their messages will be redelivered")
        touched = {message_id for message_id, item in items if item.visitor}
        outcome.failed |= touched
        return [(m, item) for m, item in items if m not in touched and item.email]


def send_dead_letters(outcome: BatchOutcome, sink: DeadLetterSink) -> None:
    """Hand the batch's dead letters over; the messages of one that cannot be sent fail
    instead (SQS redelivers them, and its redrive policy dead-letters them without reason).
    A letter whose messages are redelivered anyway is not sent: it would come again."""
    for letter in outcome.dead_letters:
        if letter.messages <= outcome.failed:
            continue
        try:
            sink.send(letter.body, letter.reason)
            outcome.stats.dead_lettered += 1
        except Exception:
            logger.exception("dead letter not sent; its messages will be redelivered")
            outcome.failed.update(letter.messages)


@dataclass
class _Batch:
    """One call's scoring: what every pass and round shares."""

    store: LeadStore
    models: list[CompiledModel]
    publisher: Publisher
    clock: Callable[[], datetime]
    limits: Limits
    outcome: BatchOutcome
    alone: set[str] = field(default_factory=set)  # leads written without their account's others

    def score_pass(self, leads: dict[str, LeadBatch]) -> dict[str, LeadBatch]:
        """Score the leads' events (conflicts retried); returns the leads with events left."""
        later: dict[str, LeadBatch] = {}

        def attempt_round(pending: dict[str, LeadBatch], attempt: int) -> dict[str, LeadBatch]:
            if attempt:
                self.outcome.stats.conflicts_retried += len(pending)
            try:
                return self._score_once(pending, later)
            except Exception:
                logger.exception("scoring failed; the batch's records will be redelivered")
                for lead in pending.values():
                    self.outcome.failed.update(lead.messages)
                return {}

        for lead in until_settled(attempt_round, leads, self.limits.attempts).values():
            # still conflicting after every attempt: let SQS redeliver it
            logger.warning("lead kept conflicting", lead=lead.key[:12])
            self.outcome.failed.update(lead.messages)
        # a lead whose messages are redelivered anyway goes on with them
        failed = self.outcome.failed
        return {key: lead for key, lead in later.items() if not lead.messages & failed}

    def _score_once(
        self, leads: dict[str, LeadBatch], later: dict[str, LeadBatch]
    ) -> dict[str, LeadBatch]:
        """One read-compute-write round; returns the leads to retry after a conflict, and puts
        in `later` those written with events left for their next write."""
        store, models, outcome = self.store, self.models, self.outcome
        now = self.clock()
        scoring_accounts = accounts.account_models(models)
        domains = {
            key: domain
            for key, lead in leads.items()
            if scoring_accounts and (domain := accounts.domain_of(lead.email)) is not None
        }
        snapshots, account_snapshots = store.read_leads(
            {
                key: [seen for i in lead.incoming for seen in retry_ids(i.event.id)]
                for key, lead in leads.items()
            },
            [m.id for m in models],
            set(domains.values()),
            [m.id for m in scoring_accounts],
        )
        leads = dict(leads)
        writes: list[LeadWrite] = []
        scored: dict[str, ScoredLead] = {}
        counts: dict[str, Stats] = {}
        changes: list[accounts.PersonChange] = []
        people: dict[str, ProfileRecord] = {}
        for key, lead in list(leads.items()):
            counts[key] = Stats()
            # room for its account's records, written in the same transaction
            room = lead_room(len(scoring_accounts) if key in domains else 0)
            try:
                result = scored[key] = score_lead(
                    lead, snapshots[key], models, now, self.limits, counts[key], room
                )
            except WriteRefused as error:
                self._refuse(lead, str(error), lead.incoming)
                del leads[key]
                domains.pop(key, None)
                continue
            if result.write is not None:
                writes.append(result.write)
            if key in domains and result.states:
                changes.append(accounts.PersonChange(key, domains[key], dict(result.states)))
                if result.profile is not None:
                    people[key] = result.profile
        now_s = int(now.timestamp())
        plan = accounts.plan(changes, account_snapshots, scoring_accounts, now_s, store, people)
        merged, deferred = accounts.merge(writes, domains, plan.records, self.alone)
        refused: dict[str, str] = {}
        _written, retry = store.commit(merged, refused)
        retry |= deferred  # leads whose account's write was full: next round
        together = {key: len(write.keys) for write in merged for key in write.keys}
        for key, reason in refused.items():
            if together[key] > 1:  # refused with its account's other leads: each alone next
                retry.add(key)
                self.alone.add(key)
                continue
            # Only the refused share goes to the dead letters; the lead goes on with the rest.
            write = scored[key].write
            assert write is not None  # it was refused
            ids = {r.event.id for r in write.records if isinstance(r, EventRecord)}
            self._refuse(leads[key], reason, [i for i in leads[key].incoming if i.event.id in ids])
        for key in set(leads) - retry:
            if scored[key].rest:
                later[key] = replace(leads[key], incoming=scored[key].rest)
            if key in refused:
                continue
            outcome.stats.add(counts[key])
            published, failed = publish_pending(key, scored[key].alerts, store, self.publisher)
            outcome.stats.notifications += published
            if failed:  # SQS redelivers the records; the notification is found pending again
                outcome.failed.update(leads[key].messages)
        # An account is settled when none of its leads must be retried or was refused: its
        # record (and any notification recorded in it) is written; otherwise the next round
        # publishes it.
        unsettled = retry | refused.keys()
        settled = set(domains.values()) - {domains[key] for key in unsettled if key in domains}
        for domain in settled:
            kinds = plan.transitions.get(domain, [])
            outcome.stats.account_mqas += kinds.count("account.mqa")
            outcome.stats.account_cooled += kinds.count("account.cooled")
        for domain in accounts.publish(plan, settled, store, self.publisher):
            for key, lead_domain in domains.items():
                if lead_domain == domain and key not in retry:
                    outcome.failed.update(leads[key].messages)
        return {key: leads[key] for key in retry}

    def _refuse(self, lead: LeadBatch, reason: str, items: list[Incoming]) -> None:
        """These events of the lead can never be stored: to the dead-letter queue, with the
        reason (the other leads of their messages are scored)."""
        logger.error("a lead's events cannot be stored", lead=lead.key[:12], reason=reason)
        arrivals: dict[int, list[Incoming]] = {}
        for item in items:
            arrivals.setdefault(item.received_at, []).append(item)
        for received_at, group in arrivals.items():
            moment = datetime.fromtimestamp(received_at, UTC)
            entries = [Entry(item.email, item.event, item.visitor) for item in group]
            for body in encode(entries, moment):
                self.outcome.dead_letters.append(DeadLetter(body, reason, set(lead.messages)))
