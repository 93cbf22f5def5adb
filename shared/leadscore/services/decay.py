"""Decay due leads and flag missed follow-ups, reading only what is due.

Design: docs/design/decay.md.
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
from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.notifications import Notification, Publisher, lead_notification
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
    known_accounts: lead_store.AccountSnapshots = {}
    for shard_no in range(first_shard, SHARDS):
        key = start_key if shard_no == first_shard else None
        while True:
            # At least one page per invocation, so that a caller always makes progress.
            if worked and deadline is not None and deadline() <= 0:
                outcome.cursor = {"shard": shard_no, "key": key}
                return outcome
            worked = True
            found, key = due_page(shard_no, at_s, page_size, key)
            outcome.stats.pages += 1
            outcome.stats.found += sum(len(states) for states in found.values())
            if found:
                _process(
                    found, compiled, at, retention_days, publisher, outcome, attempts,
                    known_accounts,
                )  # fmt: skip
            if not key:
                break
    outcome.complete = True
    return outcome


def due_page(
    shard_no: int, at_s: int, page_size: int, key: dict[str, Any] | None
) -> tuple[dict[str, dict[str, StateItem]], dict[str, Any] | None]:
    """One page of the states due by `at_s` in a shard of the index: lead key -> model id ->
    the index's copy of the state item; and the key to continue from (None: the last page)."""
    page = LeadTable.due.query(
        f"DUE#{shard_no:02d}",
        LeadTable.due_at <= at_s,
        limit=page_size,
        last_evaluated_key=key,
    )
    found: dict[str, dict[str, StateItem]] = defaultdict(dict)
    for item in page:
        if isinstance(item, StateItem):
            found[item.pk.removeprefix("LEAD#")][str(item.model)] = item
    return found, page.last_evaluated_key


@dataclass(slots=True)
class _Due:
    """A due lead: its states to decay (model id -> item, None once gone) and its profile."""

    states: dict[str, StateItem | None]
    profile: ProfileItem | None = None
    profile_read: bool = False  # read from the table: None then means erased


@dataclass(slots=True)
class _Decayed:
    """One due state after `engine.decay`, before the lead's profile is known."""

    model: CompiledModel
    item: StateItem
    before: LeadState
    result: engine.Result
    decayed: bool  # the decay changed the state
    deadline_passed: bool  # an MQL's follow-up deadline passed: sales feedback decides

    @property
    def needs_profile(self) -> bool:
        return bool(self.result.transitions) or self.deadline_passed


def _process(
    found: dict[str, dict[str, StateItem]],
    models: dict[str, CompiledModel],
    at: datetime,
    retention_days: int,
    publisher: Publisher,
    outcome: DecayOutcome,
    attempts: int,
    known_accounts: lead_store.AccountSnapshots,
) -> None:
    pending = {key: _Due(dict(states)) for key, states in found.items()}
    # Publishing clears notifications without a version change: a copy holding some may
    # hold ones already sent, so those leads are read from the table first.
    again = [
        key
        for key, due in pending.items()
        if any(item is not None and item.pending.as_dict() for item in due.states.values())
    ]
    for attempt in range(attempts):
        if not pending:
            return
        if attempt:
            outcome.stats.conflicts_retried += len(pending)
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
            again = list(pending)
        _read_again({key: pending[key] for key in again})
        pending = _once(pending, models, at, retention_days, publisher, outcome, known_accounts)
    for key in pending:
        logger.warning("lead kept conflicting; the next run decays it", lead=key[:12])
    outcome.stats.gave_up += len(pending)


def _read_again(leads: dict[str, _Due]) -> None:
    """Replace the leads' states by the table's (strongly consistent), with their profiles."""
    if not leads:
        return
    model_ids = sorted({model_id for due in leads.values() for model_id in due.states})
    snapshots = lead_store.read_leads(dict.fromkeys(leads, ()), model_ids)
    for key, due in leads.items():
        snapshot = snapshots[key]
        due.states = {model_id: snapshot.states.get(model_id) for model_id in due.states}
        due.profile, due.profile_read = snapshot.profile, True


def _once(
    found: dict[str, _Due],
    models: dict[str, CompiledModel],
    at: datetime,
    retention_days: int,
    publisher: Publisher,
    outcome: DecayOutcome,
    known_accounts: lead_store.AccountSnapshots,
) -> dict[str, _Due]:
    """One read-compute-write round; returns the leads to retry after a conflict.

    `known_accounts`: the account items this run read or wrote (domain -> model -> item),
    used instead of reading them again; one changed since fails its version condition, and
    its leads are retried with the account read again."""
    at_s = engine.epoch(at)
    scoring_accounts = accounts.account_models(models.values())
    account_ids = [m.id for m in scoring_accounts]
    counts: dict[str, DecayStats] = {}
    decayed: dict[str, list[_Decayed]] = {}
    wanted: list[str] = []  # leads whose profile is needed and not read yet
    unknown: list[str] = []  # leads that change, whose account only their profile names
    domains: dict[str, str] = {}  # lead -> account domain, for the leads that may change
    for key, due in found.items():
        counts[key] = DecayStats()
        decayed[key] = _decay(key, due, models, at, at_s, counts[key])
        may_change = any(d.decayed or d.deadline_passed for d in decayed[key])
        domain = _account_of(due) if scoring_accounts and may_change else ""
        if domain is None:
            unknown.append(key)
        elif domain:
            domains[key] = domain
        if not due.profile_read and (domain is None or any(d.needs_profile for d in decayed[key])):
            wanted.append(key)
    remembered = {d: known_accounts[d] for d in set(domains.values()) if d in known_accounts}
    profiles, account_snapshots = lead_store.read_profiles_and_accounts(
        wanted, set(domains.values()) - set(remembered), account_ids
    )
    account_snapshots.update(remembered)
    for key in wanted:
        found[key].profile, found[key].profile_read = profiles.get(key), True
    for key in unknown:
        if domain := _account_of(found[key]):
            domains[key] = domain
    missing = set(domains.values()) - set(account_snapshots)
    if missing:  # accounts of states written before they named them
        account_snapshots.update(lead_store.read_profiles_and_accounts((), missing, account_ids)[1])

    writes: list[lead_store.LeadWrite] = []
    alerts: dict[str, list[tuple[str, Notification]]] = {}
    changes: list[accounts.PersonChange] = []
    for key, due in found.items():
        write, alerts[key], states = _lead_write(
            key, due, decayed[key], at, retention_days, counts[key]
        )
        if write is not None:
            writes.append(write)
        if states and key in domains:
            changes.append(accounts.PersonChange(key, domains[key], states))
    account_plan = accounts.AccountPlan()
    if changes:
        known = {key: due.profile for key, due in found.items() if due.profile is not None}
        account_plan = accounts.plan(changes, account_snapshots, scoring_accounts, at_s, known)
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
    for domain in set(domains.values()):
        if domain in settled and not account_plan.alerts.get(domain):
            written = {str(item.model): item for item in account_plan.items.get(domain, [])}
            known_accounts[domain] = {**account_snapshots.get(domain, {}), **written}
        else:  # not written, or its pending notifications cleared: read it again
            known_accounts.pop(domain, None)
    return {key: found[key] for key in retry}


def _account_of(due: _Due) -> str | None:
    """The lead's account domain ("" for none), or None when only its profile can tell."""
    if due.profile_read:
        profile = due.profile
        return "" if profile is None else accounts.domain_of(str(profile.email)) or ""
    for item in due.states.values():
        if item is not None and item.account_domain is not None:
            return str(item.account_domain)
    return None


def _decay(
    key: str,
    due: _Due,
    models: dict[str, CompiledModel],
    at: datetime,
    at_s: int,
    stats: DecayStats,
) -> list[_Decayed]:
    """`engine.decay` of each due state of the lead (those gone count as unchanged)."""
    decayed: list[_Decayed] = []
    for model_id, item in sorted(due.states.items()):
        model = models.get(model_id)
        if model is None:
            continue
        if item is None:  # erased since it was found
            stats.unchanged += 1
            continue
        before = LeadState.from_dict(item.state)
        result = engine.decay(model, before, at)
        state = result.state
        deadline_passed = (
            state.status == "mql"
            and state.sla_due_at is not None
            and state.sla_due_at <= at_s
            and not state.sla_breached
        )
        changed = state.to_dict() != before.to_dict()
        decayed.append(_Decayed(model, item, before, result, changed, deadline_passed))
    return decayed


def _lead_write(
    key: str,
    due: _Due,
    decayed: Sequence[_Decayed],
    at: datetime,
    retention_days: int,
    stats: DecayStats,
) -> tuple[
    lead_store.LeadWrite | None, list[tuple[str, Notification]], dict[str, LeadState | None]
]:
    """The lead's write, its notifications and its changed states (for its account)."""
    at_s = engine.epoch(at)
    profile_item = due.profile
    if due.profile_read and profile_item is None:  # erased since it was found
        stats.unchanged += len(decayed)
        return None, [], {}
    profile = (
        None if profile_item is None else {**profile_item.profile, "email": profile_item.email}
    )
    email = None if profile_item is None else str(profile_item.email)
    alerts: list[tuple[str, Notification]] = []
    items: list[LeadTable] = []
    new_records: set[int] = set()
    states: dict[str, LeadState | None] = {}
    for found in decayed:
        model, state_item, result = found.model, found.item, found.result
        alerts += [
            (model.id, Notification.from_dict(json.loads(message)))
            for message in state_item.pending.as_dict().values()
        ]
        state = result.state
        notifications: list[Notification] = []
        for transition in result.transitions:
            assert email is not None and profile is not None  # read for every notification
            kind = KINDS[transition.kind]
            notifications.append(
                lead_notification(
                    kind,
                    f"{kind}:{model.id}:{key[:16]}:{transition.at}",
                    email,
                    profile,
                    engine.summary(model, state),
                )
            )
            stats.cooled += kind == "lead.cooled"
        # The profile is read for every passed deadline: sales feedback answers it.
        followed_up = profile_item is not None and _followed_up(profile_item, state)
        breached = found.deadline_passed and not followed_up
        if breached:
            assert email is not None and profile is not None
            state.sla_breached = True
            stats.sla_breached += 1
            notifications.append(
                lead_notification(
                    SLA_BREACHED,
                    f"{SLA_BREACHED}:{model.id}:{key[:16]}:{state.mql_since}",
                    email,
                    profile,
                    engine.summary(model, state),
                )
            )
        old_due = (state_item.due_pk, state_item.due_at)
        changed = found.decayed or breached
        new_item = _state_item(key, model, state_item, state, at_s, email)
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
