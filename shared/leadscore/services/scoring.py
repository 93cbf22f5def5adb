"""Score a batch of queue messages exactly once. Design: docs/design/exactly-once.md."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.emails import lead_key
from leadscore.domain.events import retry_ids
from leadscore.domain.messages import Incoming, QueueMessageError, encode, read
from leadscore.domain.notifications import Publisher, lead_notification, notification_id
from leadscore.domain.state import LeadState
from leadscore.domain.times import epoch, iso
from leadscore.services import accounts, profiles
from leadscore.services.alerts import Alert, publish_pending, unique
from leadscore.services.lead_states import LEAD_ALERT_KINDS, next_state_record
from leadscore.services.retry import until_settled
from leadscore.services.store import (
    MAX_TRANSACTION_RECORDS,
    ChangeRecord,
    ErasureCheck,
    EventRecord,
    LeadRecord,
    LeadSnapshot,
    LeadStore,
    LeadWrite,
    ProfileRecord,
    StateRecord,
    WriteRefused,
)

logger = Logger(child=True)
DAY = 86_400
# Untrusted events (forms and the like) of one lead that may score in an hour of arrival.
UNTRUSTED_PER_HOUR = 20


class ModelSource(Protocol):
    def current(self) -> Sequence[CompiledModel]: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """How long the log is kept, how often a conflict is retried, what the public may score."""

    retention_days: int
    attempts: int
    untrusted_per_hour: int


@dataclass(slots=True)
class Stats:
    events_scored: int = 0
    duplicates: int = 0
    dropped_erased: int = 0
    mqls: int = 0
    cooled: int = 0
    conflicts_retried: int = 0
    notifications: int = 0
    account_mqas: int = 0
    account_cooled: int = 0
    future_dated: int = 0
    dead_lettered: int = 0


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


@dataclass(slots=True)
class LeadBatch:
    """One lead's share of a batch: its events and the messages they came in."""

    key: str
    email: str
    incoming: list[Incoming] = field(default_factory=list)
    messages: set[str] = field(default_factory=set)


@dataclass(slots=True)
class ScoredLead:
    """One lead's batch scored: its write (None: nothing new), the notifications to publish
    once written, its new states (model id -> state, for its account), its profile, and the
    events left for the next write (more than one transaction holds)."""

    write: LeadWrite | None
    alerts: list[Alert]
    states: dict[str, LeadState | None] = field(default_factory=dict)
    profile: ProfileRecord | None = None
    rest: list[Incoming] = field(default_factory=list)


def score_messages(
    messages: Sequence[tuple[str, str]],
    store: LeadStore,
    models: ModelSource,
    publisher: Publisher,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    retention_days: int = 400,
    attempts: int = 6,
    untrusted_per_hour: int = UNTRUSTED_PER_HOUR,
) -> BatchOutcome:
    """Score (message id, body) pairs; return the ids that failed (partial batch response)."""
    outcome = BatchOutcome()
    leads: dict[str, LeadBatch] = {}
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
        for item in message.incoming:
            key = lead_key(item.email)
            lead = leads.setdefault(key, LeadBatch(key, item.email))
            lead.incoming.append(item)
            lead.messages.add(message_id)
    compiled = list(models.current()) if leads else []
    # A lead with more new events than one transaction holds is written in several, in
    # order: each pass writes the next share of every such lead.
    alone: set[str] = set()  # leads written without their account's other leads
    while leads:
        leads = _score_pass(
            leads, store, compiled, publisher, clock, Limits(retention_days, attempts,
            untrusted_per_hour), outcome, alone
        )  # fmt: skip
    outcome.stats.dead_lettered = sum(len(letter.messages) for letter in outcome.dead_letters)
    return outcome


class DeadLetterSink(Protocol):
    def send(self, body: str, reason: str) -> None: ...


def send_dead_letters(outcome: BatchOutcome, sink: DeadLetterSink) -> None:
    """Hand the batch's dead letters over; the messages of one that cannot be sent fail
    instead (SQS redelivers them, and its redrive policy dead-letters them without reason)."""
    for letter in outcome.dead_letters:
        try:
            sink.send(letter.body, letter.reason)
        except Exception:
            logger.exception("dead letter not sent; its messages will be redelivered")
            outcome.failed.update(letter.messages)


def _score_pass(
    leads: dict[str, LeadBatch],
    store: LeadStore,
    models: list[CompiledModel],
    publisher: Publisher,
    clock: Callable[[], datetime],
    limits: Limits,
    outcome: BatchOutcome,
    alone: set[str],
) -> dict[str, LeadBatch]:
    """Score the leads' events (conflicts retried); returns the leads with events left."""
    later: dict[str, LeadBatch] = {}

    def attempt_round(pending: dict[str, LeadBatch], attempt: int) -> dict[str, LeadBatch]:
        if attempt:
            outcome.stats.conflicts_retried += len(pending)
        try:
            return _score_once(
                pending, store, models, clock(), limits, publisher, outcome, later, alone
            )
        except Exception:
            logger.exception("scoring failed; the batch's records will be redelivered")
            for lead in pending.values():
                outcome.failed.update(lead.messages)
            return {}

    for lead in until_settled(attempt_round, leads, limits.attempts).values():
        # still conflicting after every attempt: let SQS redeliver it
        logger.warning("lead kept conflicting", lead=lead.key[:12])
        outcome.failed.update(lead.messages)
    # a lead whose messages are redelivered anyway goes on with them
    return {key: lead for key, lead in later.items() if not lead.messages & outcome.failed}


def _score_once(
    leads: dict[str, LeadBatch],
    store: LeadStore,
    models: list[CompiledModel],
    now: datetime,
    limits: Limits,
    publisher: Publisher,
    outcome: BatchOutcome,
    later: dict[str, LeadBatch],
    alone: set[str],
) -> dict[str, LeadBatch]:
    """One read-compute-write round; returns the leads to retry after a conflict, and puts
    in `later` those written with events left for their next write."""
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
    writes: list[LeadWrite] = []
    scored: dict[str, ScoredLead] = {}
    counts: dict[str, Stats] = {}
    changes: list[accounts.PersonChange] = []
    profiles: dict[str, ProfileRecord] = {}
    for key, lead in list(leads.items()):
        counts[key] = Stats()
        try:
            # room for its account's records, written in the same transaction
            room = MAX_TRANSACTION_RECORDS - (len(scoring_accounts) if key in domains else 0)
            result = scored[key] = _score_lead(
                lead, snapshots[key], models, now, limits, counts[key], room
            )
        except WriteRefused as error:
            _refuse(lead, str(error), outcome)
            del leads[key]
            continue
        if result.write is not None:
            writes.append(result.write)
        if key in domains and result.states:
            changes.append(accounts.PersonChange(key, domains[key], dict(result.states)))
            if result.profile is not None:
                profiles[key] = result.profile
    account_plan = accounts.plan(
        changes, account_snapshots, scoring_accounts, int(now.timestamp()), store, profiles
    )
    merged, deferred = accounts.merge(writes, domains, account_plan.records, alone)
    refused: dict[str, str] = {}
    _written, retry = store.commit(merged, refused)
    retry |= deferred  # leads whose account's write was full: next round
    together = {key: len(write.keys) for write in merged for key in write.keys}
    for key, reason in refused.items():
        if together[key] > 1:  # refused with its account's other leads: each alone next round
            retry.add(key)
            alone.add(key)
            continue
        _refuse(leads[key], reason, outcome)
    for key in set(leads) - retry - set(refused):
        _add(outcome.stats, counts[key])
        if scored[key].rest:
            later[key] = replace(leads[key], incoming=scored[key].rest)
        published, failed = publish_pending(key, scored[key].alerts, store, publisher)
        outcome.stats.notifications += published
        if failed:  # SQS redelivers the records; the notification is found pending again
            outcome.failed.update(leads[key].messages)
    # An account is settled when none of its leads must be retried: its record (and any
    # notification recorded in it) is written; otherwise the next round publishes it.
    settled = set(domains.values()) - {domains[key] for key in retry if key in domains}
    for domain in settled:
        kinds = account_plan.transitions.get(domain, [])
        outcome.stats.account_mqas += kinds.count("account.mqa")
        outcome.stats.account_cooled += kinds.count("account.cooled")
    for domain in accounts.publish(account_plan, settled, store, publisher):
        for key, lead_domain in domains.items():
            if lead_domain == domain and key not in retry:
                outcome.failed.update(leads[key].messages)
    return {key: leads[key] for key in retry}


def _refuse(lead: LeadBatch, reason: str, outcome: BatchOutcome) -> None:
    """The lead's events can never be stored: to the dead-letter queue, with the reason (the
    other leads of their messages are scored)."""
    logger.error("a lead's events cannot be stored", lead=lead.key[:12], reason=reason)
    arrivals: dict[int, list[Incoming]] = {}
    for item in lead.incoming:
        arrivals.setdefault(item.received_at, []).append(item)
    for received_at, items in arrivals.items():
        moment = datetime.fromtimestamp(received_at, UTC)
        for body in encode([(item.email, item.event) for item in items], moment):
            outcome.dead_letters.append(DeadLetter(body, reason, set(lead.messages)))


def _add(total: Stats, part: Stats) -> None:
    for name in Stats.__slots__:
        setattr(total, name, getattr(total, name) + getattr(part, name))


def _score_lead(
    lead: LeadBatch,
    snapshot: LeadSnapshot,
    models: list[CompiledModel],
    now: datetime,
    limits: Limits,
    stats: Stats,
    room: int = MAX_TRANSACTION_RECORDS,
) -> ScoredLead:
    """The lead's write of as many of its new events as `room` records hold (the others
    are left for its next write), its notifications, its new states and its profile."""
    now_s = int(now.timestamp())
    expires_at = now_s + limits.retention_days * DAY
    fresh: dict[str, Incoming] = {}
    for item in lead.incoming:
        earlier = retry_ids(item.event.id)
        if not snapshot.logged.isdisjoint(earlier) or not fresh.keys().isdisjoint(earlier):
            stats.duplicates += 1
        elif not snapshot.forgotten.isdisjoint(earlier) or (
            snapshot.erased_at is not None and item.received_at <= snapshot.erased_at
        ):  # a replay, or queued before an erasure: must not revive the lead
            stats.dropped_erased += 1
        else:
            fresh[item.event.id] = item
    # Notifications recorded earlier but not yet published (a failed or interrupted publish).
    alerts: list[Alert] = [
        (model_id, notification)
        for model_id, record in snapshot.states.items()
        for notification in record.pending.values()
    ]
    if not fresh:
        return ScoredLead(None, alerts)
    ordered = sorted(fresh.values(), key=lambda i: (i.event.occurred_at, i.event.id))
    share = len(ordered)  # the events this write takes: as many as one transaction holds
    while True:
        counts = Stats()
        scored = _scored_share(
            lead, snapshot, ordered[:share], models, now, expires_at, limits.untrusted_per_hour,
            counts,
        )  # fmt: skip
        size = len(scored.write.records) if scored.write else 0
        if size <= room:
            break
        if share == 1:
            raise WriteRefused(f"one event needs {size} items in one transaction")
        share = max(1, share - (size - room))
    _add(stats, counts)
    scored.alerts = unique(alerts + scored.alerts)
    scored.rest = ordered[share:]
    return scored


def _scored_share(
    lead: LeadBatch,
    snapshot: LeadSnapshot,
    share: list[Incoming],
    models: list[CompiledModel],
    now: datetime,
    expires_at: int,
    per_hour: int,
    stats: Stats,
) -> ScoredLead:
    """The lead's write of these events (in time order), and the notifications it records."""
    now_s = int(now.timestamp())
    fresh = {item.event.id: item for item in share}
    stored = snapshot.profile
    hour, admitted, over = profiles.admit(stored.untrusted_hour if stored else [], share, per_hour)
    spam = profiles.spam_posts(models, admitted, stored)
    admitted = [item for item in admitted if item.event.id not in spam]
    merged = profiles.merge_profile(stored, lead.key, lead.email, admitted, now_s, hour)
    profile, events = merged.profile, [item.event for item in admitted]
    # An unchanged profile is not rewritten: the states' versions guard against a
    # concurrent profile change, since every writer of a lead also writes its states.
    records: list[LeadRecord] = [merged.record] if merged.changed else []
    logged = {
        item.event.id: EventRecord(lead.key, item.event, item.received_at, expires_at=expires_at)
        for item in share
    }
    # What scores nothing, per event, shown in its history: untrusted posts over the lead's
    # hourly allowance or with spam signals, and profile values a trusted source had set.
    notes: dict[str, dict[str, Any]] = {i.event.id: {"over_hourly_allowance": True} for i in over}
    for event_id in spam:  # none of what it said is kept
        notes[event_id] = {"spam_post": True, "refused_profile": fresh[event_id].event.profile}
    for event_id, values in merged.refused.items():
        notes.setdefault(event_id, {})["refused_profile"] = values
    alerts: list[Alert] = []
    changes: dict[tuple[str, str], ChangeRecord] = {}
    states: dict[str, LeadState | None] = {}
    for model in models:
        previous = snapshot.states.get(model.id)
        before = None if previous is None else previous.state
        result = engine.score(model, before, profile, events, now, merged.untrusted)
        version = (0 if previous is None else previous.version or 0) + 1  # once written
        for delta in result.deltas:
            entry = delta.to_dict()
            if delta.event_id in logged:
                if (dated := fresh[delta.event_id].dated) is not None:
                    entry["dated"] = iso(epoch(dated))  # sent with a future date: shown so
                logged[delta.event_id].deltas.setdefault(model.id, []).append(entry)
                continue
            change = changes.setdefault(
                (model.id, delta.kind),
                # unique per state version: two changes in one second never collide
                ChangeRecord(
                    lead.key, now_s, model.id, f"{version:09d}#{delta.kind}",
                    expires_at=expires_at,
                ),
            )  # fmt: skip
            change.deltas.setdefault(model.id, []).append(entry)
        record = next_state_record(lead.key, model, previous, result.state, now_s, lead.email)
        states[model.id] = result.state
        for transition in result.transitions:
            kind = LEAD_ALERT_KINDS[transition.kind]
            notification = lead_notification(
                kind,
                notification_id(kind, model.id, lead.key, transition.at),
                lead.email,
                profile,
                engine.summary(model, result.state),
            )
            record.pending[notification.id] = notification
            stats.mqls += kind == "lead.mql"
            stats.cooled += kind == "lead.cooled"
        alerts += [(model.id, notification) for notification in record.pending.values()]
        records.append(record)
        for event_id, note in notes.items():
            logged[event_id].deltas.setdefault(model.id, []).append(_note(fresh[event_id], **note))
    stats.events_scored += len(share)
    stats.future_dated += sum(item.dated is not None for item in share)
    if not any(_versioned(record) for record in records):
        # Nothing here is written over a stored version (a new lead, or one just erased):
        # the write must also find the erasure marker as read.
        records.append(ErasureCheck(lead.key, snapshot.erased_at))
    first_log = len(records)
    records += list(logged.values())
    records += list(changes.values())
    new = set(range(first_log, first_log + len(logged)))
    return ScoredLead(LeadWrite(lead.key, records, new), alerts, states, merged.record)


def _note(item: Incoming, **what: Any) -> dict[str, Any]:
    """A history entry of no points for an event: why it did not score (all or in part)."""
    event = item.event
    return {
        "kind": "note",
        "event_id": event.id,
        "event_type": event.type,
        "at": iso(epoch(event.occurred_at)),
        "points": 0,
        "source": event.source,
        **what,
    }


def _versioned(record: LeadRecord) -> bool:
    return isinstance(record, ProfileRecord | StateRecord) and record.version is not None
