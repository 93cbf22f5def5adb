"""Decay due leads and flag missed follow-ups, reading only what is due.

Design: docs/design/decay.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.notifications import (
    Notification,
    Publisher,
    lead_notification,
    notification_id,
)
from leadscore.domain.state import LeadState
from leadscore.services import accounts
from leadscore.services.alerts import Alert, publish_pending, unique
from leadscore.services.lead_states import LEAD_ALERT_KINDS, answered, next_state_record
from leadscore.services.retry import until_settled
from leadscore.services.scoring import ModelSource
from leadscore.services.store import (
    SHARDS,
    AccountSnapshots,
    ChangeRecord,
    LeadRecord,
    LeadStore,
    LeadWrite,
    ProfileRecord,
    StateRecord,
)

logger = Logger(child=True)
PAGE_SIZE = 100  # due states per page: one read round and one commit per page
SLA_BREACHED = "lead.sla_breached"


@dataclass(slots=True)
class DecayStats:
    found: int = 0  # due states found through the index, read by key
    decayed: int = 0  # states whose score decay lowered
    unchanged: int = 0  # found, nothing to decay or flag (active since, or already done)
    sla_breached: int = 0
    cooled: int = 0
    notifications: int = 0
    conflicts_retried: int = 0
    gave_up: int = 0  # leads still conflicting after every attempt (next run catches them)
    accounts_cooled: int = 0
    pages: int = 0

    def add(self, part: DecayStats, names: Sequence[str]) -> None:
        for name in names:
            setattr(self, name, getattr(self, name) + getattr(part, name))


@dataclass(slots=True)
class DecayOutcome:
    complete: bool
    # {"shard": n, "key": the store's cursor in that shard}: JSON, for the next invocation
    cursor: dict[str, Any] | None = None
    stats: DecayStats = field(default_factory=DecayStats)

    def to_dict(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "cursor": self.cursor,
            "stats": {name: getattr(self.stats, name) for name in DecayStats.__slots__},
        }


def run_decay(
    at: datetime,
    store: LeadStore,
    models: ModelSource,
    publisher: Publisher,
    deadline: Callable[[], float] | None = None,
    cursor: dict[str, Any] | None = None,
    *,
    page_size: int = PAGE_SIZE,
    retention_days: int = 400,
    attempts: int = 6,
) -> DecayOutcome:
    """Decay and check deadlines of every state due at `at`; resumable from `cursor`.

    `deadline`: seconds left; the run stops once it is <= 0 and returns a cursor."""
    at_s = engine.epoch(at)
    outcome = DecayOutcome(complete=False)
    run = _Run(store, {m.id: m for m in models.current()}, publisher, at, retention_days)
    first_shard = int(cursor["shard"]) if cursor else 0
    worked = False
    for shard in range(first_shard, SHARDS):
        page_cursor = cursor.get("key") if cursor and shard == first_shard else None
        while True:
            # At least one page per invocation, so that a caller always makes progress.
            if worked and deadline is not None and deadline() <= 0:
                outcome.cursor = {"shard": shard, "key": page_cursor}
                return outcome
            worked = True
            found, page_cursor = store.due_page(shard, at_s, page_size, page_cursor)
            outcome.stats.pages += 1
            outcome.stats.found += sum(len(states) for states in found.values())
            if found:
                run.page(found, attempts, outcome.stats)
            if page_cursor is None:
                break
    outcome.complete = True
    return outcome


@dataclass(slots=True)
class _Due:
    """A due lead: its states to decay (model id -> record, None once gone) and its profile."""

    states: dict[str, StateRecord | None]
    profile: ProfileRecord | None = None
    profile_read: bool = False  # read from the store: None then means erased


@dataclass(slots=True)
class _Decayed:
    """One due state after `engine.decay`, before the lead's profile is known."""

    model: CompiledModel
    record: StateRecord
    result: engine.Result
    decayed: bool  # the decay changed the state
    deadline_passed: bool  # an MQL's follow-up deadline passed: sales feedback decides

    @property
    def needs_profile(self) -> bool:
        return bool(self.result.transitions) or self.deadline_passed


@dataclass(slots=True)
class _LeadPlan:
    """What one round decided for a lead."""

    stats: DecayStats
    decayed: list[_Decayed]
    write: LeadWrite | None = None
    alerts: list[Alert] = field(default_factory=list)
    states: dict[str, LeadState | None] = field(default_factory=dict)  # changed, for accounts


class _Run:
    """One decay run: the pages' rounds share the models, the instant and the accounts."""

    def __init__(
        self,
        store: LeadStore,
        models: dict[str, CompiledModel],
        publisher: Publisher,
        at: datetime,
        retention_days: int,
    ) -> None:
        self.store, self.models, self.publisher = store, models, publisher
        self.at, self.at_s = at, engine.epoch(at)
        self.expires_at = engine.epoch(at + timedelta(days=retention_days))
        self.scoring_accounts = accounts.account_models(models.values())
        # The accounts this run read or wrote, reused instead of read again: one changed
        # since fails its version condition, and its leads retry with it read again.
        self.known_accounts: AccountSnapshots = {}

    def page(
        self, found: dict[str, dict[str, StateRecord]], attempts: int, stats: DecayStats
    ) -> None:
        """Decay one page of due states, retrying the leads that meet a concurrent writer."""

        def attempt_round(due: dict[str, _Due], attempt: int) -> dict[str, _Due]:
            if attempt:  # after a conflict, its leads are read again
                stats.conflicts_retried += len(due)
                self._read_again(due)
            return self._once(due, stats)

        pending = {key: _Due(dict(states)) for key, states in found.items()}
        left = until_settled(attempt_round, pending, attempts)
        for key in left:
            logger.warning("lead kept conflicting; the next run decays it", lead=key[:12])
        stats.gave_up += len(left)

    def _read_again(self, leads: dict[str, _Due]) -> None:
        """Replace the leads' states by the store's (strongly consistent), with their profiles."""
        if not leads:
            return
        model_ids = sorted({model_id for due in leads.values() for model_id in due.states})
        snapshots, _ = self.store.read_leads(dict.fromkeys(leads, ()), model_ids)
        for key, due in leads.items():
            snapshot = snapshots[key]
            due.states = {model_id: snapshot.states.get(model_id) for model_id in due.states}
            due.profile, due.profile_read = snapshot.profile, True

    def _once(self, found: dict[str, _Due], stats: DecayStats) -> dict[str, _Due]:
        """One read-compute-write round; returns the leads to retry after a conflict."""
        plans: dict[str, _LeadPlan] = {}
        for key, due in found.items():
            counts = DecayStats()
            plans[key] = _LeadPlan(counts, self._decay(due, counts))
        domains, account_snapshots = self._read_profiles_and_accounts(found, plans)
        for key, due in found.items():
            self._plan_lead(key, due, plans[key])
        writes = [plan.write for plan in plans.values() if plan.write is not None]
        changes = [
            accounts.PersonChange(key, domains[key], plan.states)
            for key, plan in plans.items()
            if plan.states and key in domains
        ]
        account_plan = accounts.AccountPlan()
        if changes:
            profiles = {key: due.profile for key, due in found.items() if due.profile is not None}
            account_plan = accounts.plan(
                changes, account_snapshots, self.scoring_accounts, self.at_s, self.store, profiles
            )
        merged, deferred = accounts.merge(writes, domains, account_plan.records)
        _written, retry = self.store.commit(merged)
        retry |= deferred
        for key in set(found) - retry:
            stats.add(plans[key].stats, ("decayed", "unchanged", "sla_breached", "cooled"))
            published, _failed = publish_pending(key, plans[key].alerts, self.store, self.publisher)
            stats.notifications += published
        # An account is settled when none of its leads must be retried: its record (and any
        # notification recorded in it) is written; otherwise the next round publishes it.
        settled = set(domains.values()) - {domains[key] for key in retry if key in domains}
        for domain in settled:
            cooled = account_plan.transitions.get(domain, []).count("account.cooled")
            stats.accounts_cooled += cooled
        accounts.publish(account_plan, settled, self.store, self.publisher)
        for domain in set(domains.values()):
            if domain in settled and not account_plan.alerts.get(domain):
                written = {record.model: record for record in account_plan.records.get(domain, [])}
                self.known_accounts[domain] = {**account_snapshots.get(domain, {}), **written}
            else:  # not written, or its pending notifications cleared: read it again
                self.known_accounts.pop(domain, None)
        return {key: found[key] for key in retry}

    def _decay(self, due: _Due, stats: DecayStats) -> list[_Decayed]:
        """`engine.decay` of each due state of the lead (those gone count as unchanged)."""
        decayed: list[_Decayed] = []
        for model_id, record in sorted(due.states.items()):
            model = self.models.get(model_id)
            if model is None:
                continue
            if record is None:  # erased since it was found
                stats.unchanged += 1
                continue
            result = engine.decay(model, record.state, self.at)
            state = result.state
            deadline_passed = (
                state.status == "mql"
                and state.sla_due_at is not None
                and state.sla_due_at <= self.at_s
                and not state.sla_breached
            )
            changed = state != record.state
            decayed.append(_Decayed(model, record, result, changed, deadline_passed))
        return decayed

    def _read_profiles_and_accounts(
        self, found: dict[str, _Due], plans: dict[str, _LeadPlan]
    ) -> tuple[dict[str, str], AccountSnapshots]:
        """Read, in one round, the profiles needed (to notify, to look for feedback, to name
        the account) and the accounts of the leads that may change; returns each such lead's
        account domain and the accounts."""
        wanted: list[str] = []  # leads whose profile is needed and not read yet
        unknown: list[str] = []  # leads that may change, whose account only their profile names
        domains: dict[str, str] = {}
        for key, due in found.items():
            decayed = plans[key].decayed
            may_change = any(d.decayed or d.deadline_passed for d in decayed)
            domain = _account_of(due) if self.scoring_accounts and may_change else ""
            if domain is None:
                unknown.append(key)
            elif domain:
                domains[key] = domain
            if not due.profile_read and (domain is None or any(d.needs_profile for d in decayed)):
                wanted.append(key)
        known = {d: self.known_accounts[d] for d in domains.values() if d in self.known_accounts}
        profiles, account_snapshots = self._read(wanted, set(domains.values()) - set(known))
        account_snapshots.update(known)
        for key in wanted:
            found[key].profile, found[key].profile_read = profiles.get(key), True
        for key in unknown:
            if domain := _account_of(found[key]):
                domains[key] = domain
        missing = set(domains.values()) - set(account_snapshots)
        if missing:  # accounts of states written before they named them
            account_snapshots.update(self._read((), missing)[1])
        return domains, account_snapshots

    def _read(
        self, keys: Sequence[str], domains: set[str]
    ) -> tuple[dict[str, ProfileRecord], AccountSnapshots]:
        """The leads' profiles and the accounts of `domains` (every domain asked is in the
        answer, {} for an account not stored yet)."""
        if not keys and not domains:
            return {}, {}
        account_ids = [m.id for m in self.scoring_accounts]
        return self.store.read_profiles_and_accounts(keys, domains, account_ids)

    def _plan_lead(self, key: str, due: _Due, plan: _LeadPlan) -> None:
        """The lead's write, its notifications and its changed states (for its account)."""
        stats = plan.stats
        profile_record = due.profile
        if due.profile_read and profile_record is None:  # erased since it was found
            stats.unchanged += len(plan.decayed)
            return
        records: list[LeadRecord] = []
        new: set[int] = set()
        for found in plan.decayed:
            model, record, result = found.model, found.record, found.result
            state = result.state
            plan.alerts += [(model.id, notification) for notification in record.pending.values()]
            notifications: list[Notification] = []
            for transition in result.transitions:
                kind = LEAD_ALERT_KINDS[transition.kind]
                notifications.append(_lead_alert(kind, transition.at, key, found, profile_record))
                stats.cooled += kind == "lead.cooled"
            # The profile is read for every passed deadline: sales feedback answers it.
            followed_up = profile_record is not None and answered(profile_record, state)
            breached = found.deadline_passed and not followed_up
            if breached:
                state.sla_breached = True
                stats.sla_breached += 1
                assert state.mql_since is not None
                notifications.append(
                    _lead_alert(SLA_BREACHED, state.mql_since, key, found, profile_record)
                )
            old_due = record.due_at
            changed = found.decayed or breached
            email = None if profile_record is None else profile_record.email
            # An MQL sales answered is due at its decay only (next_state_record, from the profile).
            written = next_state_record(key, model, record, state, self.at_s, email, profile_record)
            if not changed:
                stats.unchanged += 1
                if written.due_at == old_due:
                    continue  # else only its due time moves (lead_states._kept_due)
            for built in notifications:
                notification = replace(built, recorded_at=self.at_s)  # logged with the record
                written.pending[notification.id] = notification
                plan.alerts.append((model.id, notification))
            records.append(written)
            if changed:
                plan.states[model.id] = state
            if result.deltas:
                stats.decayed += 1
                new.add(len(records))  # deterministic: a replay finds it and writes nothing
                records.append(
                    ChangeRecord(
                        key,
                        self.at_s,
                        model.id,
                        tag="decay",
                        deltas={model.id: [delta.to_dict() for delta in result.deltas]},
                        expires_at=self.expires_at,
                    )
                )
        plan.alerts = unique(plan.alerts)
        if records:
            plan.write = LeadWrite(key, records, new)


def _lead_alert(
    kind: str, at: int, key: str, found: _Decayed, profile: ProfileRecord | None
) -> Notification:
    """The lead's notification of a transition at `at` of its decayed state."""
    assert profile is not None  # read for every notification
    fields = {**profile.profile, "email": profile.email}
    summary = engine.summary(found.model, found.result.state)
    return lead_notification(
        kind, notification_id(kind, found.model.id, key, at), profile.email, fields, summary
    )


def _account_of(due: _Due) -> str | None:
    """The lead's account domain ("" for none), or None when only its profile can tell."""
    if due.profile_read:
        profile = due.profile
        return "" if profile is None else accounts.domain_of(profile.email) or ""
    for record in due.states.values():
        if record is not None and record.account_domain is not None:
            return record.account_domain
    return None
