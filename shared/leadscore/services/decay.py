"""Scheduled decay and follow-up deadlines: read only what is due, change it once.

For each shard of the sparse `due` index, the job queries the states due at or before `at`
(a page at a time), re-reads those leads consistently (profile and states, one BatchGet),
applies `engine.decay` as of `at` and flags MQLs whose follow-up deadline passed without
sales feedback. Each lead is written atomically with the scorer's version conditions: a
lead that became active since it was found is decayed only as its fresh state says, and a
lead changed between the re-read and the write is read again and recomputed.

Idempotent for one `at`: the decay factor depends only on the inactive time, the change
record's key is deterministic for (lead, model, at) and must not exist yet, and a breach
notification's id is the MQL episode's. A second run for the same instant writes nothing.

Notifications (`lead.cooled`, `lead.sla_breached`) are recorded as pending in the state in
the same transaction, then published, then cleared, as the scorer does.

Accounts: the decayed people's account items are read (one more BatchGetItem per page) and
written in the same transaction as their leads, with a version condition, as the scorer
does; an account that falls below its reset level publishes `account.cooled`.

The run stops before `deadline` (seconds left; it stops once that is <= 0) and returns a
cursor (shard and the index's LastEvaluatedKey) from which the next invocation continues.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from leadscore.adapters import lead_store
from leadscore.adapters.dynamo import (
    SHARDS,
    ChangeItem,
    LeadTable,
    ProfileItem,
    StateItem,
    lead_pk,
    shard,
)
from leadscore.adapters.notifications import Notification, Publisher, lead_notification
from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.state import LeadState
from leadscore.services import accounts
from leadscore.services.alerts import publish_pending, unique
from leadscore.services.scoring import KINDS, ModelSource, _state_item

logger = Logger(child=True)
PAGE_SIZE = 100  # due states per page: one BatchGet round and one commit per page
SLA_BREACHED = "lead.sla_breached"


@dataclass(slots=True)
class DecayStats:
    found: int = 0  # due states read from the index
    decayed: int = 0  # states whose score decay lowered
    unchanged: int = 0  # found, but nothing to do (active since, or already done)
    sla_breached: int = 0
    cooled: int = 0
    notifications: int = 0
    conflicts_retried: int = 0
    gave_up: int = 0  # leads still conflicting after every attempt (next run catches them)
    accounts_cooled: int = 0
    pages: int = 0


@dataclass(slots=True)
class DecayOutcome:
    complete: bool
    cursor: dict[str, Any] | None = None  # {"shard": n, "key": LastEvaluatedKey | None}
    stats: DecayStats = field(default_factory=DecayStats)

    def to_dict(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "cursor": self.cursor,
            "stats": {name: getattr(self.stats, name) for name in DecayStats.__slots__},
        }


def run_decay(
    at: datetime,
    models: ModelSource,
    publisher: Publisher,
    deadline: Callable[[], float] | None = None,
    cursor: dict[str, Any] | None = None,
    *,
    page_size: int = PAGE_SIZE,
    retention_days: int = 400,
    attempts: int = 6,
) -> DecayOutcome:
    """Decay and check deadlines of every state due at `at`; resumable from `cursor`."""
    at_s = engine.epoch(at)
    compiled = {m.id: m for m in models.current()}
    outcome = DecayOutcome(complete=False)
    first_shard = int(cursor["shard"]) if cursor else 0
    start_key: dict[str, Any] | None = cursor.get("key") if cursor else None
    worked = False
    for shard_no in range(first_shard, SHARDS):
        key = start_key if shard_no == first_shard else None
        while True:
            # At least one page per invocation, so that a caller always makes progress.
            if worked and deadline is not None and deadline() <= 0:
                outcome.cursor = {"shard": shard_no, "key": key}
                return outcome
            worked = True
            page = LeadTable.due.query(
                f"DUE#{shard_no:02d}",
                LeadTable.due_at <= at_s,
                limit=page_size,
                last_evaluated_key=key,
            )
            found: dict[str, set[str]] = defaultdict(set)
            for item in page:
                if isinstance(item, StateItem):
                    found[item.pk.removeprefix("LEAD#")].add(str(item.model))
            outcome.stats.pages += 1
            outcome.stats.found += sum(len(v) for v in found.values())
            if found:
                _process(found, compiled, at, retention_days, publisher, outcome, attempts)
            key = page.last_evaluated_key
            if not key:
                break
    outcome.complete = True
    return outcome


def _process(
    found: dict[str, set[str]],
    models: dict[str, CompiledModel],
    at: datetime,
    retention_days: int,
    publisher: Publisher,
    outcome: DecayOutcome,
    attempts: int,
) -> None:
    pending = dict(found)
    for attempt in range(attempts):
        if not pending:
            return
        if attempt:
            outcome.stats.conflicts_retried += len(pending)
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
        pending = _once(pending, models, at, retention_days, publisher, outcome)
    for key in pending:
        logger.warning("lead kept conflicting; the next run decays it", lead=key[:12])
    outcome.stats.gave_up += len(pending)


def _once(
    found: dict[str, set[str]],
    models: dict[str, CompiledModel],
    at: datetime,
    retention_days: int,
    publisher: Publisher,
    outcome: DecayOutcome,
) -> dict[str, set[str]]:
    """One read-compute-write round; returns the leads to retry after a conflict."""
    snapshots = lead_store.read_leads(dict.fromkeys(found, ()), sorted(models))
    writes: list[lead_store.LeadWrite] = []
    alerts: dict[str, list[tuple[str, Notification]]] = {}
    counts: dict[str, DecayStats] = {}
    changes: list[accounts.PersonChange] = []
    domains: dict[str, str] = {}
    scoring_accounts = accounts.account_models(models.values())
    for key, model_ids in found.items():
        counts[key] = DecayStats()
        write, alerts[key], states = _decay_lead(
            key,
            [models[m] for m in sorted(model_ids) if m in models],
            snapshots[key],
            at,
            retention_days,
            counts[key],
        )
        if write is not None:
            writes.append(write)
        profile = snapshots[key].profile
        domain = None if profile is None else accounts.domain_of(str(profile.email))
        if domain is not None and scoring_accounts:
            domains[key] = domain
            if states:
                changes.append(accounts.PersonChange(key, domain, states))
    account_plan = accounts.AccountPlan()
    if changes:
        _, account_snapshots = lead_store.read_leads_and_accounts(
            {}, (), set(domains.values()), [m.id for m in scoring_accounts]
        )
        account_plan = accounts.plan(changes, account_snapshots, scoring_accounts, engine.epoch(at))
    merged, deferred = accounts.merge(writes, domains, account_plan.items)
    _written, retry = lead_store.commit(merged)
    retry |= deferred
    for key in set(found) - retry:
        for name in ("decayed", "unchanged", "sla_breached", "cooled"):
            setattr(outcome.stats, name, getattr(outcome.stats, name) + getattr(counts[key], name))
        published, _failed = publish_pending(key, alerts[key], publisher)
        outcome.stats.notifications += published
    # An account is settled when none of its leads must be retried: its item (and any
    # notification recorded in it) is written; otherwise the next round publishes it.
    settled = set(domains.values()) - {domains[key] for key in retry if key in domains}
    for domain in settled:
        outcome.stats.accounts_cooled += account_plan.transitions.get(domain, []).count(
            "account.cooled"
        )
    accounts.publish(account_plan, settled, publisher)
    return {key: found[key] for key in retry}


def _decay_lead(
    key: str,
    models: Sequence[CompiledModel],
    snapshot: lead_store.LeadSnapshot,
    at: datetime,
    retention_days: int,
    stats: DecayStats,
) -> tuple[
    lead_store.LeadWrite | None, list[tuple[str, Notification]], dict[str, LeadState | None]
]:
    """The lead's write, its notifications and its changed states (for its account)."""
    at_s = engine.epoch(at)
    profile_item = snapshot.profile
    alerts: list[tuple[str, Notification]] = []
    items: list[LeadTable] = []
    new_records: set[int] = set()
    states: dict[str, LeadState | None] = {}
    for model in models:
        state_item = snapshot.states.get(model.id)
        if state_item is None or profile_item is None:  # erased since it was found
            stats.unchanged += 1
            continue
        alerts += [
            (model.id, Notification.from_dict(json.loads(message)))
            for message in state_item.pending.as_dict().values()
        ]
        before = LeadState.from_dict(state_item.state)
        result = engine.decay(model, before, at)
        state = result.state
        profile = {**profile_item.profile, "email": profile_item.email}
        notifications: list[Notification] = []
        for transition in result.transitions:
            kind = KINDS[transition.kind]
            notifications.append(
                lead_notification(
                    kind,
                    f"{kind}:{model.id}:{key[:16]}:{transition.at}",
                    profile_item.email,
                    profile,
                    engine.summary(model, state),
                )
            )
            stats.cooled += kind == "lead.cooled"
        followed_up = _followed_up(profile_item, state)
        if (
            state.status == "mql"
            and state.sla_due_at is not None
            and state.sla_due_at <= at_s
            and not state.sla_breached
            and not followed_up
        ):
            state.sla_breached = True
            stats.sla_breached += 1
            notifications.append(
                lead_notification(
                    SLA_BREACHED,
                    f"{SLA_BREACHED}:{model.id}:{key[:16]}:{state.mql_since}",
                    profile_item.email,
                    profile,
                    engine.summary(model, state),
                )
            )
        old_due = (state_item.due_pk, state_item.due_at)
        changed = state.to_dict() != before.to_dict()
        new_item = _state_item(key, model, state_item, state, at_s)
        if followed_up and new_item.due_at is not None and new_item.due_at <= at_s:
            # Sales answered this MQL: its deadline no longer makes it due, only decay does.
            next_at = engine.next_decay_at(model, state)
            new_item.due_at = next_at
            new_item.due_pk = None if next_at is None else f"DUE#{shard(key) % SHARDS:02d}"
        if not changed and (new_item.due_pk, new_item.due_at) == old_due:
            stats.unchanged += 1
            continue
        for notification in notifications:
            new_item.pending[notification.id] = json.dumps(notification.to_dict())
            alerts.append((model.id, notification))
        items.append(new_item)
        if changed:
            states[model.id] = state
        if result.deltas:
            stats.decayed += 1
            new_records.add(len(items))
            items.append(
                ChangeItem(
                    lead_pk(key),
                    # deterministic for (lead, model, at): a replay finds it and writes nothing
                    f"CH#{at_s:011d}#{model.id}#decay",
                    at=at_s,
                    deltas={model.id: [delta.to_dict() for delta in result.deltas]},
                    expires_at=at + timedelta(days=retention_days),
                )
            )
    if not items:
        return None, unique(alerts), states
    return lead_store.LeadWrite(key, items, new_records), unique(alerts), states


def _followed_up(profile: ProfileItem, state: LeadState) -> bool:
    """Sales feedback recorded since the lead became an MQL answers its deadline."""
    if profile.feedback is None or state.mql_since is None:
        return False
    return profile.feedback_at is not None and int(profile.feedback_at) >= state.mql_since
