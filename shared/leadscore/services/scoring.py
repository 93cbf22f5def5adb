"""Score a batch of queue messages exactly once. Design: docs/design/exactly-once.md."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from leadscore.adapters import lead_store
from leadscore.adapters.dynamo import (
    SHARDS,
    ChangeItem,
    EventItem,
    LeadTable,
    ProfileItem,
    StateItem,
    event_sk,
    lead_key,
    lead_pk,
    shard,
    state_sk,
)
from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.domains import company_domain
from leadscore.domain.events import event_to_dict
from leadscore.domain.messages import Incoming, QueueMessageError, decode
from leadscore.domain.notifications import Notification, Publisher, lead_notification
from leadscore.domain.state import LeadState
from leadscore.services import accounts
from leadscore.services.alerts import publish_pending, unique

logger = Logger(child=True)
KINDS = {"mql": "lead.mql", "cooled": "lead.cooled"}
PROFILE_FIELDS_MAX = 64


class ModelSource(Protocol):
    def current(self) -> Sequence[CompiledModel]: ...


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


@dataclass(slots=True)
class BatchOutcome:
    failed: set[str] = field(default_factory=set)  # message ids to hand back to SQS
    stats: Stats = field(default_factory=Stats)


@dataclass(slots=True)
class _Lead:
    key: str
    email: str
    incoming: list[Incoming] = field(default_factory=list)
    messages: set[str] = field(default_factory=set)


def score_messages(
    messages: Sequence[tuple[str, str]],
    models: ModelSource,
    publisher: Publisher,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    retention_days: int = 400,
    attempts: int = 6,
) -> BatchOutcome:
    """Score (message id, body) pairs; return the ids that failed (partial batch response)."""
    outcome = BatchOutcome()
    leads: dict[str, _Lead] = {}
    for message_id, body in messages:
        try:
            incoming = decode(body)
        except QueueMessageError as error:
            logger.error("unreadable scoring message", message_id=message_id, reason=str(error))
            outcome.failed.add(message_id)
            continue
        for item in incoming:
            key = lead_key(item.email)
            lead = leads.setdefault(key, _Lead(key, item.email))
            lead.incoming.append(item)
            lead.messages.add(message_id)
    if not leads:
        return outcome

    compiled = list(models.current())
    pending = dict(leads)
    for attempt in range(attempts):
        if not pending:
            break
        if attempt:
            outcome.stats.conflicts_retried += len(pending)
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
        try:
            pending = _score_once(pending, compiled, clock(), retention_days, publisher, outcome)
        except Exception:
            logger.exception("scoring failed; the batch's records will be redelivered")
            for lead in pending.values():
                outcome.failed.update(lead.messages)
            return outcome
    for lead in pending.values():  # still conflicting after every attempt: let SQS retry
        logger.warning("lead kept conflicting", lead=lead.key[:12])
        outcome.failed.update(lead.messages)
    return outcome


def _score_once(
    leads: dict[str, _Lead],
    models: list[CompiledModel],
    now: datetime,
    retention_days: int,
    publisher: Publisher,
    outcome: BatchOutcome,
) -> dict[str, _Lead]:
    """One read-compute-write round; returns the leads to retry after a conflict."""
    scoring_accounts = accounts.account_models(models)
    domains = {
        key: domain
        for key, lead in leads.items()
        if scoring_accounts and (domain := accounts.domain_of(lead.email)) is not None
    }
    snapshots, account_snapshots = lead_store.read_leads_and_accounts(
        {key: [i.event.id for i in lead.incoming] for key, lead in leads.items()},
        [m.id for m in models],
        set(domains.values()),
        [m.id for m in scoring_accounts],
    )
    writes: list[lead_store.LeadWrite] = []
    alerts: dict[str, list[tuple[str, Notification]]] = {}
    counts: dict[str, Stats] = {}
    changes: list[accounts.PersonChange] = []
    profiles: dict[str, ProfileItem] = {}
    for key, lead in leads.items():
        counts[key] = Stats()
        write, alerts[key], states, profile = _score_lead(
            lead, snapshots[key], models, now, retention_days, counts[key]
        )
        if write is not None:
            writes.append(write)
        if key in domains and states:
            changes.append(accounts.PersonChange(key, domains[key], dict(states)))
            if profile is not None:
                profiles[key] = profile
    account_plan = accounts.plan(
        changes, account_snapshots, scoring_accounts, int(now.timestamp()), profiles
    )
    merged, deferred = accounts.merge(writes, domains, account_plan.items)
    _written, retry = lead_store.commit(merged)
    retry |= deferred  # leads whose account's write was full: next round
    for key in set(leads) - retry:
        _add(outcome.stats, counts[key])
        published, failed = publish_pending(key, alerts[key], publisher)
        outcome.stats.notifications += published
        if failed:  # SQS redelivers the records; the notification is found pending again
            outcome.failed.update(leads[key].messages)
    # An account is settled when none of its leads must be retried: its item (and any
    # notification recorded in it) is written; otherwise the next round publishes it.
    settled = set(domains.values()) - {domains[key] for key in retry if key in domains}
    for domain in settled:
        kinds = account_plan.transitions.get(domain, [])
        outcome.stats.account_mqas += kinds.count("account.mqa")
        outcome.stats.account_cooled += kinds.count("account.cooled")
    for domain in accounts.publish(account_plan, settled, publisher):
        for key, lead_domain in domains.items():
            if lead_domain == domain and key not in retry:
                outcome.failed.update(leads[key].messages)
    return {key: leads[key] for key in retry}


def _add(total: Stats, part: Stats) -> None:
    for name in Stats.__slots__:
        setattr(total, name, getattr(total, name) + getattr(part, name))


def _score_lead(
    lead: _Lead,
    snapshot: lead_store.LeadSnapshot,
    models: list[CompiledModel],
    now: datetime,
    retention_days: int,
    stats: Stats,
) -> tuple[
    lead_store.LeadWrite | None,
    list[tuple[str, Notification]],
    dict[str, LeadState | None],
    ProfileItem | None,
]:
    """The lead's write, its notifications, its new states (model id -> state, for its
    account) and its profile item."""
    now_s = int(now.timestamp())
    fresh: dict[str, Incoming] = {}
    for item in lead.incoming:
        if item.event.id in snapshot.logged or item.event.id in fresh:
            stats.duplicates += 1
        elif snapshot.erased_at is not None and item.received_at <= snapshot.erased_at:
            stats.dropped_erased += 1  # queued before an erasure: must not revive the lead
        else:
            fresh[item.event.id] = item
    # Notifications recorded earlier but not yet published (a failed or interrupted publish).
    alerts = (
        [
            (model_id, Notification.from_dict(json.loads(message)))
            for model_id, state_item in snapshot.states.items()
            for message in state_item.pending.as_dict().values()
        ]
        if snapshot.states
        else []
    )
    if not fresh:
        return None, alerts, {}, None

    events = [item.event for item in fresh.values()]
    profile_item, profile, changed = _merged_profile(lead, snapshot, fresh.values(), now_s)
    # An unchanged profile is not rewritten: the states' versions guard against a
    # concurrent profile change, since every writer of a lead also writes its states.
    items: list[LeadTable] = [profile_item] if changed else []
    logged = {
        event.id: EventItem(
            lead_pk(lead.key),
            event_sk(event.id),
            event=event_to_dict(event),
            occurred_at=int(event.occurred_at.timestamp()),
            received_at=fresh[event.id].received_at,
            deltas={},
            expires_at=now + timedelta(days=retention_days),
        )
        for event in events
    }
    changes: dict[str, ChangeItem] = {}
    states: dict[str, LeadState | None] = {}
    for model in models:
        state_item = snapshot.states.get(model.id)
        state = None if state_item is None else LeadState.from_dict(state_item.state)
        result = engine.score(model, state, profile, events, now)
        for delta in result.deltas:
            record = delta.to_dict()
            if delta.event_id in logged:
                logged[delta.event_id].deltas.setdefault(model.id, []).append(record)
            else:
                version = 1 + (int(state_item.version) if state_item and state_item.version else 0)
                change = changes.setdefault(
                    f"{model.id}:{delta.kind}",
                    ChangeItem(
                        lead_pk(lead.key),
                        # unique per state version: two changes in one second never collide
                        f"CH#{now_s:011d}#{model.id}#{version:09d}#{delta.kind}",
                        at=now_s,
                        deltas={},
                        expires_at=now + timedelta(days=retention_days),
                    ),
                )
                change.deltas.setdefault(model.id, []).append(record)
        new_item = _state_item(lead.key, model, state_item, result.state, now_s, lead.email)
        states[model.id] = result.state
        for transition in result.transitions:
            kind = KINDS[transition.kind]
            notification = lead_notification(
                kind,
                f"{kind}:{model.id}:{lead.key[:16]}:{transition.at}",
                lead.email,
                profile,
                engine.summary(model, result.state),
            )
            new_item.pending[notification.id] = json.dumps(notification.to_dict())
            stats.mqls += kind == "lead.mql"
            stats.cooled += kind == "lead.cooled"
        alerts += [
            (model.id, Notification.from_dict(json.loads(m)))
            for m in new_item.pending.as_dict().values()
        ]
        items.append(new_item)
    stats.events_scored += len(events)
    first_log = len(items)
    items += list(logged.values())
    items += list(changes.values())
    new_records = set(range(first_log, first_log + len(logged)))
    return lead_store.LeadWrite(lead.key, items, new_records), unique(alerts), states, profile_item


def _merged_profile(
    lead: _Lead, snapshot: lead_store.LeadSnapshot, fresh: Any, now_s: int
) -> tuple[ProfileItem, dict[str, Any], bool]:
    """Merge profile fields from the batch: per field, the value with the latest event time wins."""
    item = snapshot.profile
    changed = item is None
    if item is None:
        item = ProfileItem(
            lead_pk(lead.key),
            "PROFILE",
            email=lead.email,
            profile={},
            field_times={},
            created_at=now_s,
            updated_at=now_s,
            account=company_domain(lead.email),
            model_pk=f"*#{shard(lead.key):02d}",  # every lead in by_model, for rescoring
        )
    profile = dict(item.profile)
    times = dict(item.field_times)
    for incoming in sorted(fresh, key=lambda i: i.event.occurred_at):
        at = int(incoming.event.occurred_at.timestamp())
        for name, value in (incoming.event.profile or {}).items():
            if name == "email" or value in (None, ""):
                continue
            if at >= times.get(name, 0) and (name in profile or len(profile) < PROFILE_FIELDS_MAX):
                changed = changed or profile.get(name) != value or times.get(name) != at
                profile[name], times[name] = value, at
    if changed:
        item.profile, item.field_times, item.updated_at = profile, times, now_s
    return item, {**profile, "email": lead.email}, changed


def _state_item(
    key: str,
    model: CompiledModel,
    previous: StateItem | None,
    state: LeadState,
    now_s: int,
    email: str | None = None,
) -> StateItem:
    """The state item to write; with the lead's `email`, it also names the lead's account."""
    item = previous or StateItem(lead_pk(key), state_sk(model.id), model=model.id, pending={})
    if email is not None:
        item.account_domain = company_domain(email) or ""
    item.state = state.to_dict()
    item.updated_at = now_s
    item.model_pk = f"{model.id}#{shard(key):02d}"
    due = [t for t in (engine.next_decay_at(model, state), _sla_check_at(state)) if t is not None]
    item.due_at = min(due) if due else None
    item.due_pk = f"DUE#{shard(key) % SHARDS:02d}" if due else None
    return item


def _sla_check_at(state: LeadState) -> int | None:
    if state.status == "mql" and not state.sla_breached and state.sla_due_at is not None:
        return state.sla_due_at
    return None
