"""Keep account scores in step with their people's lead states. Design: docs/design/accounts.md."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from leadscore.domain import accounts
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.domains import company_domain
from leadscore.domain.notifications import Publisher, account_notification, notification_id
from leadscore.domain.state import LeadState
from leadscore.domain.times import iso
from leadscore.services.alerts import Alert, publish_account_pending, unique
from leadscore.services.retry import until_settled
from leadscore.services.store import (
    MAX_TRANSACTION_RECORDS,
    AccountRecord,
    AccountSnapshots,
    LeadStore,
    LeadWrite,
    ProfileRecord,
    StateRecord,
)
from leadscore.services.transactions import write_items

logger = Logger(child=True)
ACCOUNT_ALERT_KINDS = {"mqa": "account.mqa", "cooled": "account.cooled"}


class AccountsBusy(RuntimeError):
    """Accounts kept conflicting with other writers after every attempt."""


@dataclass(slots=True)
class PersonChange:
    """A lead's new states, for the account it belongs to; None: the person is gone."""

    key: str
    domain: str
    states: dict[str, LeadState | None]  # model id -> new state


@dataclass(slots=True)
class AccountPlan:
    records: dict[str, list[AccountRecord]] = field(default_factory=dict)  # domain -> to write
    alerts: dict[str, list[Alert]] = field(default_factory=dict)  # domain -> to publish
    transitions: dict[str, list[str]] = field(default_factory=dict)  # domain -> kinds


def account_models(models: Iterable[CompiledModel]) -> list[CompiledModel]:
    """The models that score accounts (those with an `account` section)."""
    return [m for m in models if m.model.account is not None]


def domain_of(email: str) -> str | None:
    return company_domain(email)


def plan(
    changes: Sequence[PersonChange],
    snapshots: AccountSnapshots,
    models: Sequence[CompiledModel],
    now_s: int,
    store: LeadStore,
    profiles: Mapping[str, ProfileRecord] | None = None,
    notify: bool = True,
) -> AccountPlan:
    """The account records to write for these people's changes, and the notifications to
    publish once they are written (new transitions, and ones still pending from before).

    `profiles`: the profiles the caller is writing (a new person's is not stored yet), used
    to name the people in a notification; the others are read from `store` when one is due."""
    result = AccountPlan()
    by_domain: dict[str, list[PersonChange]] = defaultdict(list)
    for change in changes:
        by_domain[change.domain].append(change)
    for domain, found in snapshots.items():
        result.alerts[domain] = [
            (model_id, notification)
            for model_id, record in found.items()
            for notification in record.pending.values()
        ]
    for domain, people_changes in by_domain.items():
        for model in account_models(models):
            record = _apply(
                domain, model, people_changes, snapshots.get(domain, {}), now_s, result,
                store, profiles or {}, notify,
            )  # fmt: skip
            if record is not None:
                result.records.setdefault(domain, []).append(record)
    for domain, alerts in result.alerts.items():
        result.alerts[domain] = unique(alerts)
    return result


def _apply(
    domain: str,
    model: CompiledModel,
    changes: Sequence[PersonChange],
    found: Mapping[str, AccountRecord],
    now_s: int,
    result: AccountPlan,
    store: LeadStore,
    profiles: Mapping[str, ProfileRecord],
    notify: bool = True,
) -> AccountRecord | None:
    config = model.model.account
    assert config is not None
    previous = found.get(model.id)
    before = people_of(previous)
    people = dict(before)
    touched = False
    for change in changes:
        if model.id not in change.states:
            continue
        touched = True
        state = change.states[model.id]
        if state is None:
            people.pop(change.key, None)
        else:
            people[change.key] = accounts.person_from_state(config, change.key, state)
    if not touched:
        return None
    kept = accounts.keep(config, people.values())
    if kept == before:
        return None
    status = previous.state.get("status", "open") if previous else "open"
    mqa_since = previous.state.get("mqa_since") if previous else None
    rolled = accounts.roll_up(config, kept, status, mqa_since, now_s)
    record = previous or AccountRecord(domain, model.id)
    record.people = {key: person.to_list() for key, person in kept.items()}
    record.state = {
        "status": rolled.status,
        "mqa_since": rolled.mqa_since,
        "score": rolled.score,
        "rating": rolled.rating,
        "model_version": model.version,
    }
    record.updated_at = now_s
    if rolled.transition is None:
        return record
    kind = ACCOUNT_ALERT_KINDS[rolled.transition]
    result.transitions.setdefault(domain, []).append(kind)
    if notify:  # the transition is now (an MQA's mqa_since is now_s), hence the id's time
        scores = {
            **accounts.summary(rolled, model.id, model.version),
            "mqa_since": iso(rolled.mqa_since),
        }
        notification = account_notification(
            kind, notification_id(kind, model.id, domain, now_s), domain, scores,
            people_shown(scores, store, profiles),
        )  # fmt: skip
        notification = replace(notification, recorded_at=now_s)  # logged with the record
        record.pending[notification.id] = notification
        result.alerts.setdefault(domain, []).append((model.id, notification))
    return record


def people_of(record: AccountRecord | None) -> dict[str, accounts.Person]:
    if record is None:
        return {}
    return {key: accounts.Person.from_list(key, values) for key, values in record.people.items()}


def people_shown(
    scores: Mapping[str, Any],
    store: LeadStore,
    known: Mapping[str, ProfileRecord] | None = None,
    keep_missing: bool = False,
) -> list[dict[str, Any]]:
    """The people of an account summary with their profiles' emails, names and titles
    (read from `store` for those not `known`). A person whose profile is gone (erased a
    moment ago) is left out, or shown without an email with `keep_missing`."""
    known = known or {}
    keys = [person["key"] for person in scores["people"]]
    missing = [k for k in keys if k not in known]
    profiles = {**(store.read_profiles(missing) if missing else {}), **known}
    shown = []
    for person in scores["people"]:
        profile = profiles.get(person["key"])
        if profile is None and not keep_missing:
            continue
        fields = (profile.profile if profile is not None else None) or {}
        name = " ".join(str(fields.get(k) or "") for k in ("first_name", "last_name")).strip()
        shown.append(
            {
                "email": None if profile is None else profile.email,
                "name": name or None,
                "job_title": fields.get("job_title"),
                "company": fields.get("company"),
                **{k: v for k, v in person.items() if k != "key"},
            }
        )
    return shown


def merge(
    writes: Sequence[LeadWrite],
    domain_of_lead: Mapping[str, str],
    records: Mapping[str, list[AccountRecord]],
    alone: Set[str] = frozenset(),
) -> tuple[list[LeadWrite], set[str]]:
    """One write per account that changes: its records and every lead of it (a transaction
    holds a record once). Returns the writes and the leads left for another round because
    their account's write would not fit in one transaction (its records and their log
    items: services/transactions.py), or because they are to be
    written `alone` (without other leads: one was refused with them) and are not first."""
    merged: list[LeadWrite] = []
    groups: dict[str, LeadWrite] = {}
    deferred: set[str] = set()
    for write in writes:
        domain = domain_of_lead.get(write.key)
        if domain is None or domain not in records:
            merged.append(write)
            continue
        group = groups.get(domain)
        if group is None:
            group = groups[domain] = LeadWrite(write.key, list(records[domain]))
            merged.append(group)
        elif (
            write_items(group) + write_items(write) > MAX_TRANSACTION_RECORDS
            or write.key in alone
            or group.key in alone
        ):
            deferred.add(write.key)
            continue
        else:
            group.also.append(write.key)
        offset = len(group.records)
        group.records += write.records
        group.new |= {offset + i for i in write.new}
    return merged, deferred


def publish(
    plan: AccountPlan, domains: Iterable[str], store: LeadStore, publisher: Publisher
) -> set[str]:
    """Publish the planned notifications of these (written) accounts; returns the domains
    where one failed (it stays pending in the account record and is found again)."""
    failed: set[str] = set()
    for domain in domains:
        alerts = plan.alerts.get(domain)
        if alerts:
            _published, errors = publish_account_pending(domain, alerts, store, publisher)
            if errors:
                failed.add(domain)
    return failed


def refresh(
    keys: Iterable[str],
    store: LeadStore,
    models: Sequence[CompiledModel],
    publisher: Publisher,
    now: datetime,
    *,
    domains: Mapping[str, str] | None = None,
    notify: bool = True,
    attempts: int = 6,
    must_settle: bool = False,
) -> int:
    """Bring the accounts of these leads (lead keys) in step with their stored states, e.g.
    after rescoring rebuilt them. A lead's account is its profile's; a lead whose profile is
    gone (erased) leaves the account given for it in `domains`.

    Idempotent and safe to run concurrently with the scorer (version conditions, re-read
    on conflict). With `notify=False` an account's status moves without telling sales.
    Returns the number of account records written; with `must_settle`, raises AccountsBusy
    when an account still conflicted after every attempt (the caller's retry repeats it).
    """
    scoring = account_models(models)
    if not scoring:
        return 0
    ids = [m.id for m in scoring]
    written = 0

    def attempt_round(pending: dict[str, None], _attempt: int) -> dict[str, None]:
        nonlocal written
        snapshots, _ = store.read_leads(dict.fromkeys(pending, ()), ids)
        lead_domains: dict[str, str] = {}
        for key, snapshot in snapshots.items():
            profile = snapshot.profile
            domain = (
                company_domain(profile.email) if profile is not None else (domains or {}).get(key)
            )
            if domain is not None:
                lead_domains[key] = domain
        if not lead_domains:
            return {}
        _, found = store.read_leads({}, (), set(lead_domains.values()), ids)
        changes = [
            PersonChange(
                key,
                domain,
                {
                    m.id: None
                    if snapshots[key].profile is None
                    else _state_of(snapshots[key].states.get(m.id))
                    for m in scoring
                },
            )
            for key, domain in lead_domains.items()
        ]
        result = plan(changes, found, scoring, int(now.timestamp()), store, notify=notify)
        # One write per account, keyed by its domain: it has no lead records of its own.
        writes = [LeadWrite(domain, list(records)) for domain, records in result.records.items()]
        done, retry = store.commit(writes)
        written += sum(len(result.records[domain]) for domain in done)
        publish(result, [d for d in found if d not in retry], store, publisher)
        return dict.fromkeys(key for key, d in lead_domains.items() if d in retry)

    pending = until_settled(attempt_round, dict.fromkeys(keys), attempts)
    if pending:
        logger.warning("accounts kept conflicting", leads=len(pending))
        if must_settle:
            raise AccountsBusy(f"{len(pending)} leads' accounts kept conflicting")
    return written


def _state_of(record: StateRecord | None) -> LeadState | None:
    return None if record is None else record.state
